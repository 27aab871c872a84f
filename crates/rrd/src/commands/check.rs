//! `rrd check`: validate the configuration, read the topology once, compute
//! this RR's sessions, and run the topology-wide safety checks.
//!
//! It loads the configuration exactly as `rrd run` does (same validation),
//! so what `check` accepts, `run` accepts.

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use rrd_core::check::{shared_cluster_ids, this_rr_warnings};
use rrd_core::{compute, PeerSource, RuleSet};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::config::Config;
use crate::output;
use crate::plugins::AnySource;

/// What `check` found, for every output format.
#[derive(Debug, Default, Serialize)]
struct CheckReport {
    /// Every configuration error, or none.
    configuration_errors: Vec<String>,
    source: Option<String>,
    /// How drop-in mode chose the datastore API and layout.
    source_choice: Option<String>,
    topology: Option<TopologySummary>,
    rules: Option<&'static str>,
    this_rr: Option<ThisRr>,
    errors: Vec<String>,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct TopologySummary {
    nodes: usize,
    route_reflectors: usize,
    peer_rules: usize,
}

#[derive(Debug, Serialize)]
struct ThisRr {
    router_id: String,
    local_as: u32,
    cluster_id: Option<String>,
    sessions: usize,
    rr_clients: usize,
    non_clients: usize,
}

pub async fn check(
    path: Option<&Path>,
    strict: bool,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let mut report = CheckReport::default();
    match Config::load(path).await {
        Ok(config) => inspect(&config, &mut report).await?,
        Err(e) => report.configuration_errors = crate::config::error_lines(&e),
    }
    output::emit(format, &report, || table(&report))?;
    let failed = !report.configuration_errors.is_empty()
        || !report.errors.is_empty()
        || (strict && !report.warnings.is_empty());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn inspect(config: &Config, report: &mut CheckReport) -> anyhow::Result<()> {
    let mut source = match AnySource::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            report.errors.push(format!("{e:#}"));
            return Ok(());
        }
    };
    let info = source.info();
    report.source = Some(format!("{} ({})", info.kind, info.location));
    report.source_choice = config.source_choice.clone();
    let topology = match source.snapshot().await {
        Ok(t) => t,
        Err(e) => {
            report
                .errors
                .push(format!("source {} ({}): {e}", info.kind, info.location));
            return Ok(());
        }
    };
    report.topology = Some(TopologySummary {
        nodes: topology.nodes.len(),
        route_reflectors: topology.route_reflectors.len(),
        peer_rules: topology.peers.len(),
    });
    report.rules = Some(match topology.rules {
        RuleSet::Legacy => "legacy (calico-v1 semantics): registered RRs mesh as non-clients",
        RuleSet::CalicoV3 => "calico-v3: RRs with different cluster ids are each other's clients",
    });
    match compute(&topology, &config.identity) {
        Ok(computed) => {
            let c = &computed.config;
            let clients = c.neighbors.values().filter(|n| n.role.is_client()).count();
            report.this_rr = Some(ThisRr {
                router_id: c.router.router_id.to_string(),
                local_as: c.router.local_as.0,
                cluster_id: c.router.cluster_id.map(|id| id.to_string()),
                sessions: c.neighbors.len(),
                rr_clients: clients,
                non_clients: c.neighbors.len() - clients,
            });
            report
                .warnings
                .extend(computed.diagnostics.iter().map(ToString::to_string));
            report.warnings.extend(
                this_rr_warnings(&topology, &config.identity, c)
                    .iter()
                    .map(ToString::to_string),
            );
        }
        Err(e) => report.errors.push(e.to_string()),
    }
    report.warnings.extend(
        shared_cluster_ids(&topology)
            .iter()
            .map(ToString::to_string),
    );
    Ok(())
}

fn table(r: &CheckReport) -> String {
    let mut out = String::new();
    if r.configuration_errors.is_empty() {
        out += "configuration: ok\n";
    }
    for e in &r.configuration_errors {
        let _ = writeln!(out, "error: {e}");
    }
    if let Some(choice) = &r.source_choice {
        let _ = writeln!(out, "datastore: {choice}");
    }
    if let (Some(t), Some(source)) = (&r.topology, &r.source) {
        let _ = writeln!(
            out,
            "topology: {} nodes, {} registered RRs, {} peer rules, from {source}",
            t.nodes, t.route_reflectors, t.peer_rules
        );
    }
    if let Some(rules) = r.rules {
        let _ = writeln!(out, "rules in force: {rules}");
    }
    if let Some(me) = &r.this_rr {
        let _ = writeln!(
            out,
            "this RR (router id {}, AS {}{}): {} sessions, {} RR clients, {} non-clients",
            me.router_id,
            me.local_as,
            me.cluster_id
                .as_ref()
                .map(|c| format!(", cluster id {c}"))
                .unwrap_or_else(|| ", standalone".into()),
            me.sessions,
            me.rr_clients,
            me.non_clients
        );
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.configuration_errors.is_empty() && r.errors.is_empty() && r.warnings.is_empty() {
        out += "no warnings\n";
    }
    out
}
