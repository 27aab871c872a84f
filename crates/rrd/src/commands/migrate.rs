//! `rrd migrate --to gobgp|bird`: move this RR between daemons without a
//! routing outage (docs/migration.md).
//!
//! The binary's part: refuse while `rrd run` still drives this RR, make
//! sure the daemon to move from runs, read the datastore once, compute the
//! desired sessions, build both engines from `[engine.bird]` and
//! `[engine.gobgp]`, and hand over to
//! [`rrd_runtime::migration::migrate`], printing its progress lines. The
//! daemon that ends up holding the RR keeps running after this command, for
//! the next `rrd run` to adopt.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use rrd_core::{compute, PeerSource, RrConfig};
use rrd_engine_bird::{BirdConfig, BirdEngine, BirdVersion};
use rrd_engine_gobgp::{GobgpConfig, GobgpEngine};
use rrd_runtime::migration::{migrate, MigrationError, MigrationOptions, Progress};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::MigrateTarget;
use crate::config::{Config, EngineKind};
use crate::plugins::AnySource;

/// How long a probe of an endpoint may take.
const PROBE: Duration = Duration::from_millis(500);

pub async fn migrate_command(
    config: Config,
    to: MigrateTarget,
    deadline: Duration,
) -> anyhow::Result<ExitCode> {
    let (bird, gobgp, desired) = match prepare(&config, to).await {
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
    let mut bird = BirdEngine::new(bird);
    let mut gobgp = GobgpEngine::new(gobgp);
    let mut print = |p: &Progress| println!("{p}");
    let result = match to {
        MigrateTarget::Gobgp => {
            migrate(&mut bird, &mut gobgp, &desired, &options, &mut print).await
        }
        MigrateTarget::Bird => migrate(&mut gobgp, &mut bird, &desired, &options, &mut print).await,
    };
    interrupts.abort();
    let target = match to {
        MigrateTarget::Gobgp => "gobgp",
        MigrateTarget::Bird => "bird",
    };
    Ok(match result {
        Ok(report) => {
            print!("\n{report}");
            let pid = match to {
                MigrateTarget::Gobgp => gobgp.daemon_pid().into_iter().collect(),
                MigrateTarget::Bird => bird.daemon_pids(),
            };
            println!(
                "\nmigrated. Next: set engine.kind = \"{target}\" in the configuration and start `rrd run`; it adopts the running daemon (pid {pid:?}) and changes nothing."
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

/// Everything checked before an engine is touched: the engine tables,
/// `engine.kind`, no `rrd run`, a running daemon to move from; then the
/// desired sessions from one read of the datastore.
async fn prepare(
    config: &Config,
    to: MigrateTarget,
) -> anyhow::Result<(BirdConfig, GobgpConfig, RrConfig)> {
    let (bird, gobgp) = engine_configs(config)?;
    let from_kind = match to {
        MigrateTarget::Gobgp => EngineKind::Bird,
        MigrateTarget::Bird => EngineKind::Gobgp,
    };
    if config.engine.kind != from_kind {
        bail!(
            "engine.kind is {:?}, the daemon to migrate to: after a migration, start `rrd run`; to migrate, engine.kind names the daemon running now",
            config.engine.kind
        );
    }
    refuse_if_rrd_runs(config).await?;
    match to {
        MigrateTarget::Gobgp => require_bird_running(&bird).await?,
        MigrateTarget::Bird => require_gobgp_running(&gobgp).await?,
    }
    let desired = desired_config(config).await?;
    Ok((bird, gobgp, desired))
}

/// Both engine tables, as a migration needs them: managed daemons (rrd
/// stops one without NOTIFICATIONs by PID and starts the other with the
/// restart flags), left running when this command exits.
fn engine_configs(config: &Config) -> anyhow::Result<(BirdConfig, GobgpConfig)> {
    let mut bird = config.engine.bird.clone();
    let mut gobgp = config.engine.gobgp.clone();
    bird.validate()?;
    gobgp.validate().map_err(anyhow::Error::msg)?;
    if !bird.manage_process {
        bail!("engine.bird.manage_process must be true for a migration: rrd stops BIRD by PID (BIRD 1.6: SIGKILL) and restarts it with -R on a rollback");
    }
    if !gobgp.manage_process {
        bail!("engine.gobgp.manage_process must be true for a migration: rrd starts gobgpd, and stops it with SIGKILL (SIGTERM would send Cease to every peer)");
    }
    if gobgp.log_file.is_none() {
        eprintln!("warning: engine.gobgp.log_file is not set: a gobgpd started by this command writes to its output and dies of SIGPIPE once that is gone (a pipe)");
    }
    // The daemon that holds the RR at the end must outlive this command.
    bird.stop_daemon_on_exit = false;
    gobgp.stop_daemon_on_exit = false;
    Ok((bird, gobgp))
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

async fn require_bird_running(bird: &BirdConfig) -> anyhow::Result<()> {
    let mut sockets = vec![&bird.socket];
    if bird.version == BirdVersion::V1_6 {
        sockets.push(&bird.socket_v6);
    }
    for socket in sockets {
        let probe = tokio::net::UnixStream::connect(socket);
        match tokio::time::timeout(PROBE, probe).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => bail!(
                "BIRD does not answer on {} ({e}): there is no running BIRD to migrate from",
                socket.display()
            ),
            Err(_) => bail!(
                "BIRD does not answer on {} within {PROBE:?}",
                socket.display()
            ),
        }
    }
    Ok(())
}

async fn require_gobgp_running(gobgp: &GobgpConfig) -> anyhow::Result<()> {
    if GobgpEngine::running_daemon(gobgp).is_none() {
        bail!(
            "{} names no running gobgpd of rrd's: there is no gobgpd to migrate from",
            gobgp.pid_path().display()
        );
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

/// For `rrd run`: the daemon a migration left running for the *other*
/// engine, if one runs (then engine.kind was not switched).
pub fn other_engines_daemon(config: &Config) -> Option<String> {
    match config.engine.kind {
        EngineKind::Bird if config.engine.gobgp.manage_process => {
            let pid = GobgpEngine::running_daemon(&config.engine.gobgp)?;
            Some(format!(
                "gobgpd (pid {pid}, {}) runs",
                config.engine.gobgp.pid_path().display()
            ))
        }
        EngineKind::Gobgp if config.engine.bird.manage_process => {
            let pids = BirdEngine::running_daemons(&config.engine.bird);
            (!pids.is_empty()).then(|| format!("BIRD (pid {pids:?}) runs"))
        }
        _ => None,
    }
}
