//! Admin commands that replace the seed's hand-written curl and calicoctl
//! calls: they write the calico-v1 keys into the configured etcd, after
//! validating every argument.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use rrd_source_etcd::EtcdAdmin;

use crate::cli::{PeerCommand, RrCommand};
use crate::config::{Config, SourceKind};

fn admin(config: Option<&Path>) -> anyhow::Result<EtcdAdmin> {
    let config = Config::load(config)?;
    if config.source.kind != SourceKind::Etcd {
        bail!(
            "admin commands write to etcd, but source.kind is {:?}",
            config.source.kind
        );
    }
    Ok(EtcdAdmin::new(config.source.etcd.unwrap_or_default())?)
}

pub async fn rr(config: Option<&Path>, cmd: RrCommand) -> anyhow::Result<ExitCode> {
    let admin = admin(config)?;
    match cmd {
        RrCommand::Add { ip, cluster_id } => {
            admin.rr_add(&ip, cluster_id.as_deref()).await?;
            println!(
                "route reflector {ip} registered{}",
                cluster_id
                    .map(|c| format!(" with cluster id {c}"))
                    .unwrap_or_default()
            );
        }
        RrCommand::Remove { ip } => {
            admin.rr_remove(&ip).await?;
            println!("route reflector {ip} removed");
        }
        RrCommand::List => {
            let list = admin.rr_list().await?;
            println!("{:<40} CLUSTER ID", "ROUTE REFLECTOR");
            for rr in &list.reflectors {
                println!(
                    "{:<40} {}",
                    rr.ip,
                    rr.cluster_id
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            for (key, reason) in &list.rejected {
                eprintln!("warning: {key}: {reason}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn peer(config: Option<&Path>, cmd: PeerCommand) -> anyhow::Result<ExitCode> {
    let admin = admin(config)?;
    match cmd {
        PeerCommand::Add { ip, asn, node } => {
            admin.peer_add(&ip, &asn, node.as_deref()).await?;
            match node {
                Some(n) => println!("node {n} peers with {ip} in AS {asn}"),
                None => println!("every node peers with {ip} in AS {asn}"),
            }
        }
        PeerCommand::Remove { ip, node } => {
            admin.peer_remove(&ip, node.as_deref()).await?;
            println!(
                "peer {ip} removed{}",
                node.map(|n| format!(" from node {n}")).unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn node_mesh(config: Option<&Path>, state: Option<String>) -> anyhow::Result<ExitCode> {
    let on = admin(config)?.node_mesh(state.as_deref()).await?;
    println!("{}", if on { "on" } else { "off" });
    Ok(ExitCode::SUCCESS)
}

pub async fn default_as(config: Option<&Path>, asn: Option<String>) -> anyhow::Result<ExitCode> {
    let asn = admin(config)?.default_as(asn.as_deref()).await?;
    println!("{asn}");
    Ok(ExitCode::SUCCESS)
}
