//! `rrd migrate --to <kind>`: move this RR between daemons without a
//! routing outage (docs/migration.md).
//!
//! The binary's part: refuse while `rrd run` still drives this RR, read the
//! datastore once, compute the desired sessions, build the engine
//! `engine.kind` names and the one to move to, let each refuse what it
//! cannot do ([`BgpEngine::prepare_migration`]: managed daemons only, the
//! source's daemon running), and hand over to
//! [`rrd_runtime::migration::migrate`], printing its progress lines. The
//! daemon that ends up holding the RR keeps running after this command, for
//! the next `rrd run` to adopt. Nothing here knows a particular daemon.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use rrd_core::{compute, BgpEngine, MigrationRole, PeerSource, RrConfig};
use rrd_runtime::migration::{migrate, MigrationError, MigrationOptions, Progress};
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, EngineKind};
use crate::plugins::{AnyEngine, AnySource};

/// How long a probe of an endpoint may take.
const PROBE: Duration = Duration::from_millis(500);

pub async fn migrate_command(
    config: Config,
    to: EngineKind,
    deadline: Duration,
) -> anyhow::Result<ExitCode> {
    let (mut source, mut target, desired) = match prepare(&config, to).await {
        Ok(prepared) => prepared,
        Err(e) => {
            println!("refused, nothing was stopped: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };

    let (interrupt_tx, interrupt) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let interrupts = tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        println!("interrupted: abandoning the migration (rolling back if anything was stopped)");
        let _ = interrupt_tx.send(true);
    });
    let options = MigrationOptions {
        deadline,
        interrupt: Some(interrupt),
        ..MigrationOptions::default()
    };
    let mut print = |p: &Progress| println!("{p}");
    let result = migrate(&mut source, &mut target, &desired, &options, &mut print).await;
    interrupts.abort();
    let kind = target.info().kind;
    Ok(match result {
        Ok(report) => {
            print!("\n{report}");
            let daemons: Vec<String> = target
                .running_daemons()
                .iter()
                .map(ToString::to_string)
                .collect();
            println!(
                "\nmigrated. Next: set engine.kind = \"{kind}\" in the configuration and start `rrd run`; it adopts the running daemon ({}) and changes nothing.",
                daemons.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e @ MigrationError::Refused(_)) => {
            println!("\n{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            if let Some(report) = e.report() {
                print!("\n{report}");
            }
            println!("\n{e}");
            ExitCode::FAILURE
        }
    })
}

/// Everything checked before an engine is touched: `engine.kind`, no
/// `rrd run`, what each engine needs for its side; then the desired
/// sessions from one read of the datastore.
async fn prepare(
    config: &Config,
    to: EngineKind,
) -> anyhow::Result<(AnyEngine, AnyEngine, RrConfig)> {
    if config.engine.kind == to {
        bail!(
            "engine.kind is already {to:?}: engine.kind names the daemon running now, --to the daemon to move to (after a migration, start `rrd run`)"
        );
    }
    let mut source = AnyEngine::from_config(config)?;
    let mut target = AnyEngine::of_kind(config, to)?;
    refuse_if_rrd_runs(config).await?;
    // The target first: its refusals do not depend on what runs.
    for (engine, role) in [
        (&mut target, MigrationRole::Target),
        (&mut source, MigrationRole::Source),
    ] {
        for warning in engine.prepare_migration(role).await? {
            eprintln!("warning: {warning}");
        }
    }
    let desired = desired_config(config).await?;
    Ok((source, target, desired))
}

/// `rrd run` for this RR must be stopped: it would fight the migration.
/// Its managed daemon's PID-file lock is checked when the source engine
/// attaches; its HTTP endpoint is checked here.
async fn refuse_if_rrd_runs(config: &Config) -> anyhow::Result<()> {
    let listen = config.http.listen;
    let probe = tokio::net::TcpStream::connect(listen);
    if let Ok(Ok(_)) = tokio::time::timeout(PROBE, probe).await {
        bail!("`rrd run` still serves http.listen {listen}: stop it first (the daemon keeps its sessions), then migrate");
    }
    Ok(())
}

/// One read of the datastore, and this RR's sessions.
async fn desired_config(config: &Config) -> anyhow::Result<RrConfig> {
    let mut source = AnySource::from_config(config)?;
    let info = source.info();
    let topology = source.snapshot().await.with_context(|| {
        format!(
            "reading the topology from {} ({})",
            info.kind, info.location
        )
    })?;
    let computed = compute(&topology, &config.identity).context("computing this RR's sessions")?;
    for d in &computed.diagnostics {
        eprintln!("warning: {d}");
    }
    Ok(computed.config)
}

/// For `rrd run`: the daemons a migration left running for *other*
/// engines, if any run (then engine.kind was not switched).
pub fn other_engines_daemons(config: &Config) -> Option<String> {
    use clap::ValueEnum;
    let found: Vec<String> = EngineKind::value_variants()
        .iter()
        .filter(|k| **k != config.engine.kind)
        .filter_map(|k| AnyEngine::of_kind(config, *k).ok())
        .flat_map(|e| e.running_daemons())
        .map(|d| d.to_string())
        .collect();
    (!found.is_empty()).then(|| format!("{} runs", found.join(", ")))
}
