//! The `[engine.gobgp]` settings: where gobgpd's gRPC API is, whether rrd
//! runs the daemon itself, and the few values GoBGP needs that the
//! canonical [`rrd_core::RrConfig`] leaves to the engine.
//!
//! Read by the binary (TOML, `deny_unknown_fields`), handed to
//! [`crate::GobgpEngine::new`]; nothing else in the crate reads files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// GoBGP engine settings. Every key is optional; the defaults attach to a
/// gobgpd that someone else runs on `127.0.0.1:50051`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GobgpConfig {
    /// gobgpd's gRPC address, `host:port` (default `127.0.0.1:50051`,
    /// gobgpd's own default port). Plain HTTP/2: keep it on loopback.
    pub api: String,
    /// Start and supervise gobgpd ourselves (default `false`: attach to a
    /// daemon run by systemd or a container). A managed daemon is started
    /// as `<binary> --api-hosts <api> --pprof-disable --log-plain`, its PID
    /// kept in `<state_dir>/gobgpd.pid`, and restarted with backoff when it
    /// dies. A restarted rrd adopts the gobgpd that file names when it still
    /// runs with this `api`, and refuses to start when anything else holds
    /// the API address.
    pub manage_process: bool,
    /// `manage_process` only: whether gobgpd stops when rrd exits (SIGTERM:
    /// Cease to every peer). Default `false`: gobgpd keeps running with its
    /// sessions and the next rrd adopts it, so restarting or upgrading rrd
    /// is hitless. Under systemd that also needs `KillMode=process` in rrd's
    /// unit; and gobgpd's output must outlive rrd (set `log_file`, or let it
    /// inherit the journal): gobgpd dies of SIGPIPE when it logs to a pipe
    /// nobody reads.
    pub stop_daemon_on_exit: bool,
    /// `manage_process` only: where rrd keeps `gobgpd.pid` (the managed
    /// daemon's PID, locked while an rrd manages it) and `applied.json`
    /// (the last config applied: what gobgpd does not store, such as node
    /// names, so that a restarted rrd holds exactly what it applied).
    /// Default `/run/rrd/gobgp`. One per gobgpd.
    pub state_dir: PathBuf,
    /// The gobgpd executable for `manage_process` (default `gobgpd`, looked
    /// up in `PATH`).
    pub binary: PathBuf,
    /// Where a managed gobgpd writes its log (stdout and stderr); default:
    /// inherit rrd's.
    pub log_file: Option<PathBuf>,
    /// `manage_process` only: the Go garbage collector's target (`GOGC`)
    /// in the managed gobgpd's environment (default `400`; `0`: leave it
    /// as rrd's own environment has it). gobgpd's main loop allocates a
    /// select case per peer on every turn; at 2,099 peers the collector
    /// took about a quarter of its CPU for adding them with Go's default
    /// of 100, and 400 trades that for a bigger heap.
    pub gogc: u32,
    /// BGP listen port given to StartBgp. Unset (default): the RR config's
    /// port, 179 when it names none. `-1`: no listening socket (gobgpd then
    /// only connects out).
    pub listen_port: Option<i32>,
    /// How long to wait for the gRPC API to answer: TCP connect of each
    /// attempt, and the whole wait for a freshly started managed daemon
    /// (default `10s`).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one unary RPC, and of reading a whole ListPeer stream
    /// (default `30s`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Graceful-restart time announced to peers whose neighbor settings
    /// name none, seconds (default `120`, the clients' usual restart time;
    /// gobgpd's own default would be the hold time, 90).
    pub restart_time: u32,
    /// Graceful-restart deferral time, seconds (default `360`, GoBGP's):
    /// after a [`rrd_core::StartMode::Restarting`] start, gobgpd sends its
    /// own routes only once every peer sent End-of-RIB or this time has
    /// passed. Set on every peer with graceful restart.
    pub deferral_time: u32,
    /// Full looks (`runtime.counts_interval`) ask gobgpd for the routes
    /// sent to each peer only while the previous look's Loc-RIB estimate
    /// (the routes accepted from every peer, summed) times the number of
    /// peers is at most this (default `500000`; `0`: never). gobgpd 3.10
    /// counts them by walking its Loc-RIB once per peer inside its main
    /// loop, which serves nothing else meanwhile (`benches/full_look.rs`:
    /// 2.5 s of gobgpd CPU at 10,000 paths and 2,099 peers, 92-98 s at
    /// 100,000; 0.07 s at the default, 250 × 2,099 or 5,000 × 100). Above it the
    /// sessions' routes sent are not counted (`-` in `rrd status`, no
    /// `rrd_peer_prefixes_sent` series) and rrd says so at warn level.
    pub count_routes_sent_up_to: u64,
}

/// gobgpd's default gRPC port.
pub const DEFAULT_API: &str = "127.0.0.1:50051";

impl Default for GobgpConfig {
    fn default() -> Self {
        GobgpConfig {
            api: DEFAULT_API.to_owned(),
            manage_process: false,
            stop_daemon_on_exit: false,
            state_dir: PathBuf::from("/run/rrd/gobgp"),
            binary: PathBuf::from("gobgpd"),
            log_file: None,
            gogc: 400,
            listen_port: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            restart_time: 120,
            deferral_time: 360,
            count_routes_sent_up_to: 500_000,
        }
    }
}

impl GobgpConfig {
    /// `<state_dir>/gobgpd.pid`.
    pub fn pid_path(&self) -> PathBuf {
        self.state_dir.join("gobgpd.pid")
    }

    /// `<state_dir>/applied.json`.
    pub fn record_path(&self) -> PathBuf {
        self.state_dir.join("applied.json")
    }

    /// Whether `args` (a command line) is a gobgpd run with this config:
    /// the configured binary's file name and `--api-hosts <api>`.
    pub fn is_own_daemon(&self, args: &[String]) -> bool {
        let name = |p: &str| Path::new(p).file_name().map(|n| n.to_owned());
        let binary = args.first().and_then(|a| name(a));
        binary.is_some()
            && binary == self.binary.to_str().and_then(name)
            && rrd_process::arg_after(args, "--api-hosts") == Some(self.api.as_str())
    }

    /// Check the values serde cannot; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.api.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "engine.gobgp.api: {:?} is not an address:port such as 127.0.0.1:50051",
                self.api
            ));
        }
        if let Some(port) = self.listen_port {
            if !(-1..=65535).contains(&port) {
                return Err(format!(
                    "engine.gobgp.listen_port: {port} is not a port (0..65535) or -1"
                ));
            }
        }
        if self.restart_time == 0 || self.restart_time > 4095 {
            return Err(format!(
                "engine.gobgp.restart_time: {} is outside 1..4095 seconds (12 bits in the capability)",
                self.restart_time
            ));
        }
        if self.deferral_time == 0 || self.deferral_time > 65535 {
            return Err(format!(
                "engine.gobgp.deferral_time: {} is outside 1..65535 seconds",
                self.deferral_time
            ));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err("engine.gobgp.connect_timeout / request_timeout must not be zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let c: GobgpConfig = toml::from_str("").unwrap();
        assert_eq!(c, GobgpConfig::default());
        assert_eq!(c.api, "127.0.0.1:50051");
        assert!(!c.manage_process);
        assert_eq!(c.binary, PathBuf::from("gobgpd"));
        assert_eq!(c.listen_port, None);
        assert_eq!(c.restart_time, 120);
        assert_eq!(c.deferral_time, 360);
        assert_eq!(c.count_routes_sent_up_to, 500_000);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert!(!c.stop_daemon_on_exit, "rrd restarts leave gobgpd running");
        assert_eq!(c.pid_path(), PathBuf::from("/run/rrd/gobgp/gobgpd.pid"));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn only_a_gobgpd_with_our_api_is_ours() {
        let c = GobgpConfig {
            binary: "/usr/bin/gobgpd".into(),
            ..GobgpConfig::default()
        };
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(c.is_own_daemon(&args(&[
            "gobgpd",
            "--api-hosts",
            "127.0.0.1:50051",
            "--pprof-disable"
        ])));
        assert!(!c.is_own_daemon(&args(&["gobgpd", "--api-hosts", "127.0.0.1:50052"])));
        assert!(!c.is_own_daemon(&args(&["gobgpd"])));
        assert!(!c.is_own_daemon(&args(&["sleep", "--api-hosts", "127.0.0.1:50051"])));
        assert!(!c.is_own_daemon(&[]));
    }

    #[test]
    fn keys_parse_with_humantime_durations() {
        let c: GobgpConfig = toml::from_str(
            r#"
            api = "127.0.0.1:50161"
            manage_process = true
            stop_daemon_on_exit = true
            state_dir = "/var/run/rrd-gobgp"
            binary = "/usr/bin/gobgpd"
            listen_port = -1
            connect_timeout = "2s"
            request_timeout = "1m"
            restart_time = 60
            count_routes_sent_up_to = 0
            "#,
        )
        .unwrap();
        assert_eq!(c.listen_port, Some(-1));
        assert!(c.stop_daemon_on_exit);
        assert_eq!(
            c.record_path(),
            PathBuf::from("/var/run/rrd-gobgp/applied.json")
        );
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.count_routes_sent_up_to, 0);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<GobgpConfig>("apii = \"x\"").unwrap_err();
        assert!(err.to_string().contains("apii"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let c = GobgpConfig {
            api: "localhost".into(),
            ..GobgpConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("engine.gobgp.api"));
        let c = GobgpConfig {
            listen_port: Some(-2),
            ..GobgpConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("listen_port"));
        let c = GobgpConfig {
            restart_time: 5000,
            ..GobgpConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("restart_time"));
    }
}
