//! `rrd run`: the daemon. Wires source and engine into the reconciler,
//! serves HTTP, and exits on SIGTERM/SIGINT leaving the BGP daemon and its
//! sessions up (a restarted rrd adopts them without changes). SIGHUP
//! re-reads the configuration: `log.level` takes effect at once, a
//! reconcile runs, and any other change is named as needing a restart.

use std::process::ExitCode;

use anyhow::Context;
use rrd_runtime::Reconciler;
use std::path::PathBuf;
use tokio::signal::unix::{signal, SignalKind};

use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::plugins::{AnyEngine, AnySource};

pub async fn run(
    config: Config,
    path: Option<PathBuf>,
    log: super::LogReload,
) -> anyhow::Result<ExitCode> {
    if let Some(daemon) = super::migrate::other_engines_daemons(&config) {
        anyhow::bail!(
            "engine.kind = {:?}, but the other engine's daemon still runs: {daemon}. After `rrd migrate`, set engine.kind to the daemon migrated to; otherwise stop that daemon first",
            config.engine.kind
        );
    }
    let source = AnySource::for_this_rr(&config)?;
    let engine = AnyEngine::from_config(&config)?;
    let source_info = rrd_core::PeerSource::info(&source);
    let engine_info = rrd_core::BgpEngine::info(&engine);
    info!(
        source = source_info.kind,
        location = %source_info.location,
        engine = engine_info.kind,
        endpoint = %engine_info.endpoint,
        "rrd starting"
    );
    if let Some(choice) = &config.source_choice {
        info!(%choice, "datastore chosen");
    }
    let reconciler = Reconciler::new(
        source,
        engine,
        config.identity.clone(),
        config.runtime.clone(),
    );
    let reconciler = match &config.source_choice {
        Some(choice) => reconciler.with_source_choice(choice.clone()),
        None => reconciler,
    };
    let handle = reconciler.handle();

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot bind {}", config.http.listen))?;
    let admin_socket = config.http.admin_socket.clone();
    let admin = rrd_runtime::http::bind_admin(&admin_socket)
        .await
        .context("http.admin_socket")?;
    info!(listen = %config.http.listen, admin_socket = %admin_socket.display(), "serving /metrics /healthz /readyz /status; /apply on the admin socket only");
    let admin_handle = handle.clone();
    let hup = tokio::spawn(reload_on_sighup(config, path, log, handle.clone()));
    let http = tokio::spawn(async move {
        if let Err(e) = rrd_runtime::http::serve_on(listener, handle).await {
            error!(error = %e, "HTTP server stopped");
        }
    });
    let admin = tokio::spawn(async move {
        if let Err(e) = rrd_runtime::http::serve_admin(admin, admin_handle).await {
            error!(error = %e, "admin socket server stopped");
        }
    });

    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT"),
        }
    };
    let result = reconciler.run(shutdown).await;
    http.abort();
    hup.abort();
    admin.abort();
    let _ = std::fs::remove_file(&admin_socket);
    match result {
        Ok(_engine) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

/// SIGHUP: re-read the configuration; apply what can change safely (the
/// log filter), reconcile now, and name every other change as needing a
/// restart. A configuration that no longer loads changes nothing.
async fn reload_on_sighup(
    mut running: Config,
    path: Option<PathBuf>,
    log: super::LogReload,
    handle: rrd_runtime::ControlHandle,
) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot install the SIGHUP handler");
            return;
        }
    };
    while hup.recv().await.is_some() {
        if running.source_choice.is_some() {
            info!("SIGHUP: drop-in mode has no configuration file to re-read; reconciling now");
            handle.send(rrd_runtime::Control::ReconcileNow).await;
            continue;
        }
        let fresh = match Config::load(path.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                error!("SIGHUP: configuration not reloaded, the running one stays: {e:#}");
                continue;
            }
        };
        if fresh.log != running.log {
            match log.reload(super::log_filter(&fresh.log)) {
                Ok(()) => info!(level = %fresh.log.level, "SIGHUP: log filter changed"),
                Err(e) => error!(error = %e, "SIGHUP: cannot change the log filter"),
            }
        }
        debug!(config = ?path, "SIGHUP: configuration loaded");
        let pending = fresh.sections_needing_restart(&running);
        if !pending.is_empty() {
            warn!(
                sections = %pending.join(", "),
                "SIGHUP: these changes take effect when rrd restarts (the daemon keeps its sessions)"
            );
        }
        running.log = fresh.log;
        info!("SIGHUP: configuration re-read; reconciling now");
        handle.send(rrd_runtime::Control::ReconcileNow).await;
    }
}
