//! `rrd run`: the daemon. Wires source and engine into the reconciler,
//! serves HTTP, and exits on SIGTERM/SIGINT leaving the BGP daemon and its
//! sessions up (a restarted rrd adopts them without changes).

use std::process::ExitCode;

use anyhow::Context;
use rrd_runtime::Reconciler;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};

use crate::config::Config;
use crate::plugins::{AnyEngine, AnySource};

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    if let Some(daemon) = super::migrate::other_engines_daemons(&config) {
        anyhow::bail!(
            "engine.kind = {:?}, but the other engine's daemon still runs: {daemon}. After `rrd migrate`, set engine.kind to the daemon migrated to; otherwise stop that daemon first",
            config.engine.kind
        );
    }
    let source = AnySource::from_config(&config)?;
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
    let reconciler = Reconciler::new(
        source,
        engine,
        config.identity.clone(),
        config.runtime.clone(),
    );
    let handle = reconciler.handle();

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot bind {}", config.http.listen))?;
    let admin_socket = &config.http.admin_socket;
    let admin = rrd_runtime::http::bind_admin(admin_socket)
        .await
        .context("http.admin_socket")?;
    info!(listen = %config.http.listen, admin_socket = %admin_socket.display(), "serving /metrics /healthz /readyz /status; /apply on the admin socket only");
    let admin_handle = handle.clone();
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
    admin.abort();
    let _ = std::fs::remove_file(admin_socket);
    match result {
        Ok(_engine) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}
