//! Admin commands that replace the seed's hand-written curl and calicoctl
//! calls: they write the calico-v1 keys into the configured etcd, after
//! validating every argument.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use rrd_source_etcd::EtcdAdmin;

use crate::cli::{PeerCommand, RrCommand};
use crate::config::{Config, SourceKind};
use crate::output;

async fn admin(config: Option<&Path>) -> anyhow::Result<EtcdAdmin> {
    let config = Config::load(config).await?;
    if config.source.kind != SourceKind::Etcd {
        bail!(
            "admin commands write to etcd, but source.kind is {:?}",
            config.source.kind
        );
    }
    Ok(EtcdAdmin::new(config.source.etcd.unwrap_or_default())?)
}

pub async fn rr(config: Option<&Path>, cmd: RrCommand) -> anyhow::Result<ExitCode> {
    let admin = admin(config).await?;
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
        RrCommand::List { output: format } => {
            let list = admin.rr_list().await?;
            for (key, reason) in &list.rejected {
                eprintln!("warning: {key}: {reason}");
            }
            output::emit(format, &list.reflectors, || {
                let mut out = format!("{:<40} CLUSTER ID\n", "ROUTE REFLECTOR");
                for rr in &list.reflectors {
                    let cluster = rr.cluster_id.map(|c| c.to_string());
                    out += &format!("{:<40} {}\n", rr.ip, cluster.as_deref().unwrap_or("-"));
                }
                out
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn peer(config: Option<&Path>, cmd: PeerCommand) -> anyhow::Result<ExitCode> {
    let admin = admin(config).await?;
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
    let on = admin(config).await?.node_mesh(state.as_deref()).await?;
    println!("{}", if on { "on" } else { "off" });
    Ok(ExitCode::SUCCESS)
}

pub async fn default_as(config: Option<&Path>, asn: Option<String>) -> anyhow::Result<ExitCode> {
    let asn = admin(config).await?.default_as(asn.as_deref()).await?;
    println!("{asn}");
    Ok(ExitCode::SUCCESS)
}
