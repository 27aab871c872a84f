//! `rrd render`: one read of the datastore, the computed sessions, and the
//! daemon configuration they render to. Changes nothing.
//!
//! `-o table` prints what the daemon would be given (BIRD's files, gobgpd's
//! TOML); `-o json|yaml` the computed sessions, passwords redacted. Every
//! warning (this RR unregistered, without clients, an empty datastore) goes
//! to stderr, so that nothing is ever rendered empty in silence.

use std::process::ExitCode;

use anyhow::Context;
use rrd_core::check::this_rr_warnings;
use rrd_core::{compute, BgpEngine, PeerSource};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::config::Config;
use crate::output;
use crate::plugins::{AnyEngine, AnySource};

/// `-o json|yaml`: the sessions, as rrd computed them.
#[derive(Serialize)]
struct Rendered {
    source: String,
    config: serde_json::Value,
    warnings: Vec<String>,
}

pub async fn render(config: Config, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let mut source = AnySource::from_config(&config)?;
    let engine = AnyEngine::from_config(&config)?;
    let info = source.info();
    let topology = source.snapshot().await.with_context(|| {
        format!(
            "reading the topology from {} ({})",
            info.kind, info.location
        )
    })?;
    let computed = compute(&topology, &config.identity).context("computing this RR's sessions")?;
    let warnings: Vec<String> = computed
        .diagnostics
        .iter()
        .chain(&this_rr_warnings(
            &topology,
            &config.identity,
            &computed.config,
        ))
        .map(ToString::to_string)
        .collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let text = match format {
        OutputFormat::Table => engine.render(&computed.config)?,
        OutputFormat::Json | OutputFormat::Yaml => String::new(),
    };
    let mut sessions = serde_json::to_value(&computed.config)?;
    redact_passwords(&mut sessions);
    let rendered = Rendered {
        source: format!("{} ({})", info.kind, info.location),
        config: sessions,
        warnings,
    };
    output::emit(format, &rendered, || text)?;
    Ok(ExitCode::SUCCESS)
}

/// Session passwords stay out of structured output (the daemon's own
/// configuration, `-o table`, must carry them).
fn redact_passwords(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "password" && !v.is_null() {
                    *v = serde_json::Value::String("<redacted>".into());
                } else {
                    redact_passwords(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_passwords),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        let mut v = serde_json::json!({"neighbors": {"Node_x": {"password": "hunter2", "port": null}}, "password": null});
        redact_passwords(&mut v);
        assert_eq!(v["neighbors"]["Node_x"]["password"], "<redacted>");
        assert!(v["password"].is_null());
    }
}
