//! `rrd render`: one read of the datastore, the computed sessions, and the
//! daemon configuration they render to. Changes nothing.

use std::process::ExitCode;

use anyhow::Context;
use rrd_core::{compute, BgpEngine, PeerSource};

use crate::config::Config;
use crate::plugins::{AnyEngine, AnySource};

pub async fn render(config: Config) -> anyhow::Result<ExitCode> {
    let mut source = AnySource::from_config(&config)?;
    let engine = AnyEngine::from_config(&config)?;
    let topology = source.snapshot().await.context("reading the topology")?;
    let computed = compute(&topology, &config.identity).context("computing this RR's sessions")?;
    for d in &computed.diagnostics {
        eprintln!("warning: {d}");
    }
    print!("{}", engine.render(&computed.config)?);
    Ok(ExitCode::SUCCESS)
}
