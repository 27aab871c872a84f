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
    info!(listen = %config.http.listen, "serving /metrics /healthz /readyz /status");
    let http = tokio::spawn(async move {
        if let Err(e) = axum_serve(listener, handle).await {
            error!(error = %e, "HTTP server stopped");
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
    match result {
        Ok(_engine) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    handle: rrd_runtime::ControlHandle,
) -> std::io::Result<()> {
    rrd_runtime::http::serve_on(listener, handle).await
}
