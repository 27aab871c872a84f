//! `rrd check`: validate the configuration, read the topology once, compute
//! this RR's sessions, and run the topology-wide safety checks.

use std::path::Path;
use std::process::ExitCode;

use rrd_core::check::shared_cluster_ids;
use rrd_core::{compute, PeerSource, RuleSet};

use crate::config::Config;
use crate::plugins::AnySource;

pub async fn check(path: Option<&Path>, strict: bool) -> anyhow::Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("configuration: ok");
    let mut source = AnySource::from_config(&config)?;
    let info = source.info();
    let topology = match source.snapshot().await {
        Ok(t) => t,
        Err(e) => {
            println!("error: source {} ({}): {e}", info.kind, info.location);
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "topology: {} nodes, {} registered RRs, {} peer rules, from {} ({})",
        topology.nodes.len(),
        topology.route_reflectors.len(),
        topology.peers.len(),
        info.kind,
        info.location
    );
    println!(
        "rules in force: {}",
        match topology.rules {
            RuleSet::Legacy => "legacy (calico-v1 semantics): registered RRs mesh as non-clients",
            RuleSet::CalicoV3 =>
                "calico-v3: RRs with different cluster ids are each other's clients",
        }
    );
    let mut warnings = 0usize;
    match compute(&topology, &config.identity) {
        Ok(computed) => {
            let clients = computed
                .config
                .neighbors
                .values()
                .filter(|n| n.role.is_client())
                .count();
            println!(
                "this RR (router id {}, AS {}{}): {} sessions, {} RR clients, {} non-clients",
                computed.config.router.router_id,
                computed.config.router.local_as,
                computed
                    .config
                    .router
                    .cluster_id
                    .map(|c| format!(", cluster id {c}"))
                    .unwrap_or_else(|| ", standalone".into()),
                computed.config.neighbors.len(),
                clients,
                computed.config.neighbors.len() - clients
            );
            for d in &computed.diagnostics {
                warnings += 1;
                println!("warning: {d}");
            }
        }
        Err(e) => {
            println!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    }
    for d in shared_cluster_ids(&topology) {
        warnings += 1;
        println!("warning: {d}");
    }
    if warnings == 0 {
        println!("no warnings");
    }
    Ok(if strict && warnings > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
