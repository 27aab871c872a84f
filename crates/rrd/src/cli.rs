//! Command-line interface.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::EngineKind;

/// Keeps BGP route reflectors configured from a datastore (etcd, Kubernetes,
/// Consul, a file) by driving BIRD, GoBGP or FRR.
#[derive(Debug, Parser)]
#[command(name = "rrd", version, about, after_help = EXIT_STATUS)]
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
    ///
    /// `-o table` prints the daemon's own configuration (BIRD's files, the
    /// gobgpd TOML); `-o json|yaml` the computed sessions. Warnings (this
    /// RR is not registered, has no client, the datastore is empty) go to
    /// stderr.
    #[command(after_help = "Exit status: 0 rendered, 1 error.")]
    Render {
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Validate the configuration and the topology; warn about unsafe
    /// cluster ids, an unregistered RR, an RR without clients, an empty
    /// datastore.
    #[command(
        after_help = "Exit status: 0 valid (warnings allowed), 1 errors (or warnings with --strict)."
    )]
    Check {
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Show the sessions of a running rrd, like `calicoctl node status`.
    #[command(
        after_help = "Exit status: 0 ready (in sync with the datastore and the daemon), 1 rrd unreachable or error, 3 running but not ready."
    )]
    Status {
        /// Read the status from the running rrd's read-only HTTP listener
        /// (`host:port`, its `http.listen`) instead of its admin socket.
        #[arg(long, conflicts_with = "socket")]
        url: Option<String>,
        /// The running rrd's admin socket (default: the configuration's
        /// `http.admin_socket`).
        #[arg(long)]
        socket: Option<PathBuf>,
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Same as `-o json`.
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Registered route reflectors (`rr_v4/<ip>`, `rr_v6/<ip>` in etcd).
    #[command(subcommand)]
    Rr(RrCommand),
    /// BGP peers of the nodes (`global/peer_v4/<ip>`, `host/<node>/peer_v4/<ip>`).
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Show, or turn on/off, the node-to-node mesh (`global/node_mesh`).
    NodeMesh {
        /// `on` or `off`; omit to show.
        state: Option<String>,
    },
    /// Show, or set, the default node AS (`global/as_num`).
    DefaultAs {
        /// The new AS number; omit to show.
        asn: Option<String>,
    },
    /// Move this RR to another daemon without a routing outage.
    #[command(long_about = MIGRATE_ABOUT)]
    Migrate {
        /// The daemon to move to; engine.kind names the daemon running now.
        #[arg(long, value_enum)]
        to: EngineKind,
        /// From the old daemon's stop until the new one must hold every
        /// session with End-of-RIB exchanged and the same route counts;
        /// otherwise rrd rolls back. Keep it well under the restart time
        /// the clients were given (120 s by default).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        deadline: Duration,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages: rrd.1 and one rrd-<command>.1 per command
    /// into DIR, or rrd.1 to stdout without --dir.
    Man {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Ask a running rrd to reconcile now.
    Apply {
        /// Confirm a change that the mass-removal guard holds back.
        #[arg(long)]
        allow_mass_removal: bool,
        /// The running rrd's admin socket (default: the configuration's
        /// `http.admin_socket`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

/// How a command prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: tables and the daemon's own configuration text.
    #[default]
    Table,
    /// One JSON document (timestamps in RFC 3339).
    Json,
    /// One YAML document.
    Yaml,
}

/// The exit statuses, shown by `rrd --help`.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  error: bad configuration (every problem is named), datastore or daemon
     unreachable, `check` found errors (or warnings with --strict),
     `migrate` rolled back
  2  usage error; `migrate` refused before changing anything
  3  `status`: rrd runs but is not ready (not in sync, change held,
     configuration rejected, datastore unreachable)";

const MIGRATE_ABOUT: &str = "\
Move this RR from the daemon engine.kind names to another one (--to bird,
gobgp, frr) without a routing outage: the running daemon stops without
NOTIFICATIONs (BIRD 2 `graceful restart`, SIGKILL for BIRD 1.6, gobgpd and
bgpd), so clients keep its routes as stale; the other daemon starts as a
graceful-restart restarting speaker (R and F bits: GoBGP local_restarting,
BIRD -R, a fresh bgpd) with every session; once every session is Established, End-of-RIB
was exchanged and route counts match, the new daemon holds the RR. Otherwise
it is stopped the same way and the old daemon comes back as a restarting
speaker.

Needs both daemons' [engine.<kind>] tables with manage_process = true (and
engine.gobgp.log_file, so that gobgpd outlives this command's output).
Refused before anything is stopped unless the old daemon holds exactly what
the datastore implies, every session is Established with graceful restart
negotiated for its families, and the new daemon holds nothing.

Procedure, one RR at a time (in a cluster, wait for `rrd status` to be
healthy before the next RR):
  1. stop `rrd run` (the daemon keeps its sessions);
  2. rrd migrate --to gobgp --config rrd.toml
  3. set engine.kind = \"gobgp\" in rrd.toml, start `rrd run`: it adopts
     gobgpd and changes nothing.
Exit status: 0 migrated, 1 rolled back or failed, 2 refused.";

/// `rrd rr ...`: writes exactly the keys the calico/routereflector README's
/// curl wrote.
#[derive(Debug, Subcommand)]
pub enum RrCommand {
    /// Register a route reflector.
    Add {
        ip: String,
        /// Dotted quad (1.0.0.1) or 32-bit integer; omit for none.
        #[arg(long)]
        cluster_id: Option<String>,
    },
    /// List registered route reflectors.
    List {
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Unregister a route reflector.
    Remove { ip: String },
}

/// `rrd peer ...`: writes exactly what `calicoctl bgp peer add` and
/// `calicoctl node bgp peer add` wrote.
#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Add a global peer (every node peers with it) or, with --node, a
    /// node-specific one.
    Add {
        ip: String,
        #[arg(long = "as")]
        asn: String,
        #[arg(long)]
        node: Option<String>,
    },
    /// Remove a global or node-specific peer.
    Remove {
        ip: String,
        #[arg(long)]
        node: Option<String>,
    },
}
