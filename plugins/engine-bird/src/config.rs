//! `[engine.bird]` of rrd's TOML configuration: which BIRD, where its files
//! and control sockets are, and whether rrd runs the daemon itself.
//!
//! Sits at the engine end of source -> runtime -> engine: the binary
//! deserialises this struct and hands it to [`crate::BirdEngine::new`].
//! Every field has a default that matches Debian's `bird` / `bird2`
//! packages, so an empty `[engine.bird]` table drives a stock BIRD 2.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// BIRD release family. The two differ in daemon layout and syntax:
/// BIRD 2 is one daemon with `ipv4 { }` / `ipv6 { }` channels, BIRD 1.6 is
/// two daemons (`bird` for IPv4, `bird6` for IPv6) with options directly in
/// each protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BirdVersion {
    /// BIRD 2.x (tested with 2.0.12). Written `"2"`.
    #[default]
    #[serde(rename = "2")]
    V2,
    /// BIRD 1.6.x (tested with 1.6.8). Written `"1.6"`.
    #[serde(rename = "1.6")]
    V1_6,
}

impl BirdVersion {
    /// Whether a daemon greeting such as `BIRD 2.0.12 ready.` comes from a
    /// daemon of this family.
    pub fn matches_greeting(self, greeting: &str) -> bool {
        let Some(version) = greeting.strip_prefix("BIRD ") else {
            return false;
        };
        match self {
            BirdVersion::V2 => version.starts_with("2."),
            BirdVersion::V1_6 => version.starts_with("1.6"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BirdVersion::V2 => "BIRD 2",
            BirdVersion::V1_6 => "BIRD 1.6",
        }
    }
}

/// How rrd drives BIRD. Paths should be absolute: BIRD reports errors with
/// the path it was given, and a managed daemon is started with these paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BirdConfig {
    /// `"2"` (default) or `"1.6"`. Checked against the daemon's greeting at
    /// start: a mismatch is an error, never a guess.
    pub version: BirdVersion,
    /// The file rrd writes and BIRD reads: the only file for BIRD 2, the
    /// IPv4 daemon's file for BIRD 1.6. Default `/etc/bird/bird.conf`.
    /// rrd also keeps `<config_path>.rrd.json` beside it (what it applied).
    pub config_path: PathBuf,
    /// BIRD 1.6 only: the IPv6 daemon's (`bird6`) file.
    /// Default `/etc/bird/bird6.conf`.
    pub config_path_v6: PathBuf,
    /// Control socket of BIRD 2, or of BIRD 1.6's IPv4 daemon.
    /// Default `/run/bird/bird.ctl`.
    pub socket: PathBuf,
    /// BIRD 1.6 only: control socket of `bird6`. Default `/run/bird/bird6.ctl`.
    pub socket_v6: PathBuf,
    /// Whether rrd starts, supervises (restart with backoff) and stops the
    /// daemon(s) itself. Default `false`: attach to a daemon run by systemd
    /// or a container entrypoint. A managed daemon's PID is kept in
    /// `<config_path>.rrd.pid` (`<config_path_v6>.rrd.pid` for `bird6`),
    /// locked while an rrd manages it; a restarted rrd adopts the daemon
    /// that file names if it is the one serving the socket.
    pub manage_process: bool,
    /// `manage_process` only: whether the daemon(s) stop when rrd exits
    /// (SIGTERM: Cease to every peer). Default `false`: BIRD keeps running
    /// with its sessions and the next rrd adopts it, so restarting or
    /// upgrading rrd is hitless. Under systemd that also needs
    /// `KillMode=process` in rrd's unit (the default kills the whole cgroup).
    pub stop_daemon_on_exit: bool,
    /// Daemon binary for BIRD 2 / BIRD 1.6 IPv4, also used for the offline
    /// check `bird -p -c FILE` when no daemon runs. Default `bird` (`$PATH`).
    pub binary: PathBuf,
    /// BIRD 1.6 only: the IPv6 daemon binary. Default `bird6`.
    pub binary_v6: PathBuf,
    /// The `debug` clause of every BGP session (BIRD syntax after `debug`:
    /// `all`, `off`, or `{ states, routes, filters, interfaces, events,
    /// packets }`). Default `{ states }`: session state changes in the log.
    pub debug: String,
    /// Where BIRD writes its log: `log "FILE" all;` in every rendered file
    /// (both BIRD 1.6 daemons append to the same file). Default unset: a
    /// daemon rrd runs logs to rrd (`log stderr all;`, forwarded to rrd's
    /// log), any other one to syslog (BIRD's default). Set it where no
    /// syslog daemon listens on `/dev/log`: glibc then writes each of
    /// BIRD's syslog lines to `/dev/console`, which on a serial console
    /// costs ~1 ms a line (a `configure` adding 2,099 protocols logs 2,099
    /// "Adding protocol" lines: 1.9 s instead of 0.04 s, see BENCHMARKS.md).
    pub log_file: Option<PathBuf>,
    /// Bind BGP's listening socket to the RR's own addresses (BIRD 2
    /// `strict bind on`, BIRD 1.6 `listen bgp address A`) instead of every
    /// address of the host. Default `false`, as the calico/routereflector
    /// image: clients may connect to any address of the RR host. Turn it on
    /// when other BGP speakers share the host (tests, GoBGP side by side
    /// during a migration).
    pub strict_bind: bool,
    /// How long to wait for a reconfiguration that BIRD answered with
    /// `0004 Reconfiguration in progress` (sessions shutting down) before
    /// reporting the apply as still in progress. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub reconfigure_timeout: Duration,
}

impl Default for BirdConfig {
    fn default() -> Self {
        BirdConfig {
            version: BirdVersion::V2,
            config_path: PathBuf::from("/etc/bird/bird.conf"),
            config_path_v6: PathBuf::from("/etc/bird/bird6.conf"),
            socket: PathBuf::from("/run/bird/bird.ctl"),
            socket_v6: PathBuf::from("/run/bird/bird6.ctl"),
            manage_process: false,
            stop_daemon_on_exit: false,
            binary: PathBuf::from("bird"),
            binary_v6: PathBuf::from("bird6"),
            debug: "{ states }".to_owned(),
            log_file: None,
            strict_bind: false,
            reconfigure_timeout: Duration::from_secs(30),
        }
    }
}

/// A setting that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("engine.bird.{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

impl BirdConfig {
    /// BIRD 2 with every path under `dir` (tests, side-by-side daemons).
    pub fn in_dir(version: BirdVersion, dir: &Path) -> BirdConfig {
        BirdConfig {
            version,
            config_path: dir.join("bird.conf"),
            config_path_v6: dir.join("bird6.conf"),
            socket: dir.join("bird.ctl"),
            socket_v6: dir.join("bird6.ctl"),
            ..BirdConfig::default()
        }
    }

    /// Check what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key, message: &str| {
            Err(ConfigError {
                key,
                message: message.to_owned(),
            })
        };
        for (key, path) in [
            ("config_path", &self.config_path),
            ("config_path_v6", &self.config_path_v6),
        ] {
            if path.file_name().is_none() {
                return err(key, "must name a file");
            }
            if path.to_str().is_none_or(|p| p.contains('"')) {
                return err(
                    key,
                    "must be UTF-8 without '\"' (it is quoted in BIRD commands)",
                );
            }
        }
        if self.version == BirdVersion::V1_6 {
            if self.config_path == self.config_path_v6 {
                return err("config_path_v6", "must differ from config_path");
            }
            if self.socket == self.socket_v6 {
                return err("socket_v6", "must differ from socket");
            }
        }
        if let Some(log) = &self.log_file {
            if !log.is_absolute() || log.file_name().is_none() {
                return err("log_file", "must be an absolute path to a file");
            }
            if log.to_str().is_none_or(|p| p.contains(['"', '\\', '\n'])) {
                return err(
                    "log_file",
                    "must be UTF-8 without '\"', '\\' or a line break (it is quoted in BIRD's file)",
                );
            }
        }
        if let Err(message) = crate::render::check_debug_clause(&self.debug) {
            return err("debug", &message);
        }
        if self.reconfigure_timeout.is_zero() {
            return err("reconfigure_timeout", "must be positive");
        }
        Ok(())
    }

    /// `<file>.rrd.pid`: where rrd records the PID of the managed daemon
    /// that reads `file`.
    pub fn pid_path(file: &Path) -> PathBuf {
        let mut name = file.as_os_str().to_owned();
        name.push(".rrd.pid");
        PathBuf::from(name)
    }

    /// `<config_path>.rrd.json`: the last applied `RrConfig`.
    pub fn sidecar_path(&self) -> PathBuf {
        let mut name = self.config_path.as_os_str().to_owned();
        name.push(".rrd.json");
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_debian_defaults() {
        let c: BirdConfig = toml::from_str("").unwrap();
        assert_eq!(c, BirdConfig::default());
        assert_eq!(c.version, BirdVersion::V2);
        assert_eq!(c.socket, PathBuf::from("/run/bird/bird.ctl"));
        assert_eq!(c.reconfigure_timeout, Duration::from_secs(30));
        assert!(!c.stop_daemon_on_exit, "rrd restarts leave BIRD running");
        c.validate().unwrap();
    }

    #[test]
    fn version_and_durations_read_as_written_by_operators() {
        let c: BirdConfig = toml::from_str(
            "version = \"1.6\"\nmanage_process = true\nstop_daemon_on_exit = true\nreconfigure_timeout = \"2m 5s\"\n",
        )
        .unwrap();
        assert_eq!(c.version, BirdVersion::V1_6);
        assert!(c.manage_process);
        assert!(c.stop_daemon_on_exit);
        assert_eq!(c.reconfigure_timeout, Duration::from_secs(125));
    }

    #[test]
    fn unknown_keys_and_versions_are_refused() {
        assert!(toml::from_str::<BirdConfig>("sockett = \"/x\"").is_err());
        assert!(toml::from_str::<BirdConfig>("version = \"3\"").is_err());
        assert!(toml::from_str::<BirdConfig>("version = 2").is_err());
    }

    #[test]
    fn validation_names_the_bad_key() {
        let mut c = BirdConfig {
            version: BirdVersion::V1_6,
            ..BirdConfig::default()
        };
        c.socket_v6 = c.socket.clone();
        assert_eq!(c.validate().unwrap_err().key, "socket_v6");
        let c = BirdConfig {
            debug: "all; protocol x".into(),
            ..BirdConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "debug");
        assert!(e.to_string().starts_with("engine.bird.debug: "), "{e}");
    }

    #[test]
    fn log_file_must_be_an_absolute_path_bird_can_quote() {
        let c: BirdConfig = toml::from_str("log_file = \"/var/log/rrd/bird.log\"\n").unwrap();
        assert_eq!(c.log_file, Some(PathBuf::from("/var/log/rrd/bird.log")));
        c.validate().unwrap();
        for bad in ["bird.log", "/var/log/a\"b.log", "/var/log/a\\b.log", "/"] {
            let c = BirdConfig {
                log_file: Some(PathBuf::from(bad)),
                ..BirdConfig::default()
            };
            assert_eq!(c.validate().unwrap_err().key, "log_file", "{bad}");
        }
    }

    #[test]
    fn greeting_is_matched_against_the_configured_family() {
        assert!(BirdVersion::V2.matches_greeting("BIRD 2.0.12 ready."));
        assert!(!BirdVersion::V2.matches_greeting("BIRD 1.6.8 ready."));
        assert!(BirdVersion::V1_6.matches_greeting("BIRD 1.6.8 ready."));
        assert!(!BirdVersion::V1_6.matches_greeting("BIRD 2.0.12 ready."));
        assert!(!BirdVersion::V2.matches_greeting("garbage"));
    }

    #[test]
    fn sidecar_sits_beside_the_config_file() {
        let c = BirdConfig::default();
        assert_eq!(
            c.sidecar_path(),
            PathBuf::from("/etc/bird/bird.conf.rrd.json")
        );
        assert_eq!(
            BirdConfig::pid_path(&c.config_path_v6),
            PathBuf::from("/etc/bird/bird6.conf.rrd.pid")
        );
    }
}
