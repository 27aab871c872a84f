//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Keeps BGP route reflectors configured from a datastore (etcd, Kubernetes,
/// Consul, a file) by driving BIRD or GoBGP.
#[derive(Debug, Parser)]
#[command(name = "rrd", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment overrides: RRD_<SECTION>__<KEY>,
    /// e.g. RRD_ENGINE__BIRD__SOCKET=/run/bird/bird.ctl.
    #[arg(long, short, global = true, env = "RRD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reconciler: read the datastore, keep the daemon in sync.
    Run,
    /// Print the daemon configuration this RR would get (no changes made).
    Render,
    /// Validate the configuration and the topology; warn about unsafe
    /// cluster ids. Exit status 1 on errors.
    Check {
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Show the sessions of a running rrd, like `calicoctl node status`.
    Status {
        /// Address of the running rrd's HTTP endpoint (default: from the
        /// configuration's `http.listen`).
        #[arg(long)]
        url: Option<String>,
        /// Print the raw status JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running rrd to reconcile now.
    Apply {
        /// Confirm a change that the mass-removal guard holds back.
        #[arg(long)]
        allow_mass_removal: bool,
        #[arg(long)]
        url: Option<String>,
    },
}
