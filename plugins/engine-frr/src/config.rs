//! `[engine.frr]` of rrd's TOML configuration: where FRR's bgpd is, whether
//! rrd runs it itself, and the few values FRR needs that the canonical
//! [`rrd_core::RrConfig`] leaves to the engine.
//!
//! Read by the binary (TOML, `deny_unknown_fields`), handed to
//! [`crate::FrrEngine::new`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// FRR engine settings. Every key is optional; the defaults run (with
/// `manage_process`) or attach to a bgpd in the pathspace `rrd`, apart from
/// any FRR the host runs for itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrrConfig {
    /// Start and supervise bgpd ourselves (default `false`: attach to a
    /// bgpd run by its service manager). A managed bgpd runs alone, without
    /// zebra (an RR installs nothing in the kernel):
    /// `<binary> -Z -S -N <pathspace> --vty_socket <socket_dir>
    /// -f <config_path> -p <port> -l <address>...`, its PID kept in
    /// `<state_dir>/bgpd.pid`, restarted
    /// with backoff when it dies (it reloads `config_path`, which rrd keeps
    /// current). A restarted rrd adopts the bgpd that file names when it
    /// still runs with these paths, and refuses to start when anything
    /// else answers on the vty socket.
    pub manage_process: bool,
    /// `manage_process` only: whether bgpd stops when rrd exits (Cease to
    /// every peer). Default `false`: bgpd keeps running with its sessions
    /// and the next rrd adopts it (under systemd also set
    /// `KillMode=process` in rrd's unit).
    pub stop_daemon_on_exit: bool,
    /// bgpd's pathspace (`-N`), so that rrd's bgpd never shares files or
    /// sockets with an FRR the host runs itself. Default `rrd`.
    pub pathspace: String,
    /// Folder of bgpd's vty socket (`<socket_dir>/bgpd.vty`, bgpd's
    /// `--vty_socket`; `vtysh --vty_socket <socket_dir>` reaches it too).
    /// Default `/run/frr/rrd`. To attach to the host's own bgpd, `/run/frr`.
    pub socket_dir: PathBuf,
    /// `manage_process` only: the configuration file bgpd starts with (and
    /// comes back with after a crash); rrd rewrites it after every apply.
    /// Default `/etc/frr/rrd/bgpd.conf`.
    pub config_path: PathBuf,
    /// Where rrd keeps `bgpd.pid` (the managed daemon's PID, locked while
    /// an rrd manages it) and `applied.json` (the last configuration
    /// applied, believed only while bgpd's running configuration matches
    /// it). Default `/run/rrd/frr`.
    pub state_dir: PathBuf,
    /// The bgpd executable (default `/usr/lib/frr/bgpd`, Debian's), also
    /// used to check a configuration before it is applied (`bgpd -C`).
    pub binary: PathBuf,
    /// Name of the BGP view (`router bgp <AS> view <view>`) rrd configures.
    /// A view installs nothing and, without zebra, treats next hops as
    /// reachable: what an RR needs. Default `rrd`.
    pub view: String,
    /// `manage_process` only: where bgpd logs (`--log file:<path>`);
    /// default: its standard output, inherited from rrd.
    pub log_file: Option<PathBuf>,
    /// `manage_process` only: BGP listen port given to bgpd (`-p`). Unset
    /// (default): the RR config's port, 179 when it names none.
    pub listen_port: Option<u16>,
    /// How long to wait for bgpd's vty socket (default `10s`): each
    /// connect; and a managed bgpd just started, which answers only once
    /// it has read its whole file, gets this long without using CPU
    /// before it is killed (one still reading is waited for).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of one vty command (default `30s`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Give each route-reflector client session the inbound route map that
    /// sets ORIGINATOR_ID to the client's router id (default `true`), so
    /// that bgpd reflects exactly what BIRD and GoBGP reflect. `false`: no
    /// route maps; bgpd 8.4 then adds MED 0 to every route it reflects
    /// that came without a MED (a bgpd bug, see the engine's README),
    /// which a best-path choice treating a missing MED as 0 (the default
    /// of BIRD, GoBGP and FRR) does not tell apart from none. Set it to
    /// `false` beyond a few hundred clients: bgpd 8.4 spends time
    /// proportional to every route map it holds on each one it loads, so
    /// that 400 take it 49 s to start and 2,000 do not load at all.
    pub set_originator_id: bool,
    /// With `set_originator_id`: the most ORIGINATOR_ID route maps (one per
    /// client router id) the engine gives bgpd (default 200). A topology
    /// that needs more is refused, naming the count and these two keys,
    /// and bgpd keeps what it holds: past a few hundred route maps bgpd
    /// 8.4 would stop answering for minutes while it loads them.
    pub originator_route_maps_up_to: usize,
}

impl Default for FrrConfig {
    fn default() -> Self {
        FrrConfig {
            manage_process: false,
            stop_daemon_on_exit: false,
            pathspace: "rrd".into(),
            socket_dir: PathBuf::from("/run/frr/rrd"),
            config_path: PathBuf::from("/etc/frr/rrd/bgpd.conf"),
            state_dir: PathBuf::from("/run/rrd/frr"),
            binary: PathBuf::from("/usr/lib/frr/bgpd"),
            view: "rrd".into(),
            log_file: None,
            listen_port: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            set_originator_id: true,
            originator_route_maps_up_to: 200,
        }
    }
}

/// A setting that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("engine.frr.{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl FrrConfig {
    /// Every path under `dir`, pathspace `name` (tests, side-by-side
    /// daemons).
    pub fn in_dir(dir: &Path, name: &str) -> FrrConfig {
        FrrConfig {
            pathspace: name.into(),
            socket_dir: dir.join("run"),
            config_path: dir.join("bgpd.conf"),
            state_dir: dir.join("state"),
            ..FrrConfig::default()
        }
    }

    /// `<socket_dir>/bgpd.vty`.
    pub fn vty_path(&self) -> PathBuf {
        self.socket_dir.join("bgpd.vty")
    }

    /// `<state_dir>/bgpd.pid`: rrd's record of the managed bgpd.
    pub fn pid_path(&self) -> PathBuf {
        self.state_dir.join("bgpd.pid")
    }

    /// `<state_dir>/applied.json`.
    pub fn record_path(&self) -> PathBuf {
        self.state_dir.join("applied.json")
    }

    /// `<state_dir>/router-ids.json`: client router ids bgpd observed
    /// that differ from the default ([`crate::originator`]).
    pub fn router_ids_path(&self) -> PathBuf {
        self.state_dir.join("router-ids.json")
    }

    /// Whether `args` (a command line) is a bgpd run with this config: the
    /// configured binary's file name, `-N <pathspace>` and `-f
    /// <config_path>`.
    pub fn is_own_daemon(&self, args: &[String]) -> bool {
        let name = |p: &Path| p.file_name().map(|n| n.to_owned());
        let binary = args.first().and_then(|a| name(Path::new(a)));
        binary.is_some()
            && binary == name(&self.binary)
            && rrd_process::arg_after(args, "-N") == Some(self.pathspace.as_str())
            && rrd_process::arg_after(args, "-f").map(Path::new) == Some(self.config_path.as_path())
    }

    /// Check what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, message: &str| {
            Err(ConfigError {
                key,
                message: message.to_owned(),
            })
        };
        if !word(&self.pathspace) {
            return err(
                "pathspace",
                "must be a non-empty word (letters, digits, '-', '_')",
            );
        }
        if !word(&self.view) {
            return err(
                "view",
                "must be a non-empty word (letters, digits, '-', '_')",
            );
        }
        if self.config_path.file_name().is_none() {
            return err("config_path", "must name a file");
        }
        if self.listen_port == Some(0) {
            return err("listen_port", "must be a port (1..65535)");
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return err(
                "connect_timeout",
                "connect_timeout and request_timeout must be positive",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let c: FrrConfig = toml::from_str("").unwrap();
        assert_eq!(c, FrrConfig::default());
        assert_eq!(c.vty_path(), PathBuf::from("/run/frr/rrd/bgpd.vty"));
        assert_eq!(c.pid_path(), PathBuf::from("/run/rrd/frr/bgpd.pid"));
        assert_eq!(c.binary, PathBuf::from("/usr/lib/frr/bgpd"));
        assert_eq!(c.view, "rrd");
        assert!(!c.manage_process);
        assert!(!c.stop_daemon_on_exit, "rrd restarts leave bgpd running");
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<FrrConfig>("sockets = \"x\"").unwrap_err();
        assert!(err.to_string().contains("sockets"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let c = FrrConfig {
            view: "my view".into(),
            ..FrrConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "view");
        let c = FrrConfig {
            pathspace: String::new(),
            ..FrrConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("engine.frr.pathspace"));
    }

    #[test]
    fn only_a_bgpd_with_our_pathspace_and_file_is_ours() {
        let c = FrrConfig::default();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(c.is_own_daemon(&args(&[
            "/usr/lib/frr/bgpd",
            "-Z",
            "-N",
            "rrd",
            "-f",
            "/etc/frr/rrd/bgpd.conf"
        ])));
        assert!(!c.is_own_daemon(&args(&[
            "/usr/lib/frr/bgpd",
            "-N",
            "other",
            "-f",
            "/etc/frr/rrd/bgpd.conf"
        ])));
        assert!(!c.is_own_daemon(&args(&["/usr/lib/frr/bgpd", "-N", "rrd"])));
        assert!(!c.is_own_daemon(&args(&[
            "/usr/lib/frr/zebra",
            "-N",
            "rrd",
            "-f",
            "/etc/frr/rrd/bgpd.conf"
        ])));
        assert!(!c.is_own_daemon(&[]));
    }
}
