//! A bgpd that rrd runs itself (`manage_process = true`): started alone
//! (no zebra: `-Z`; no user change: `-S`) in its own pathspace
//! (`-N <pathspace>`, vty socket in `socket_dir`), with rrd's configuration
//! file, the listen port and addresses of the RR (`-p`, `-l`), its PID in
//! `<state_dir>/bgpd.pid`; or adopted from the rrd that ran before.
//!
//! Sits under the engine, which decides when to start, adopt and stop;
//! [`rrd_process::Supervisor`] owns the process: it restarts bgpd with
//! exponential backoff when it dies (bgpd reloads the file rrd keeps
//! current, and announces itself as a restarting speaker with the F bit,
//! so clients keep its routes), stops it with a chosen signal through a
//! pidfd, and leaves it running for the next rrd when the handle drops
//! ([`OnDrop::Leave`]) or stops it ([`OnDrop::Stop`]).

use std::net::IpAddr;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::config::FrrConfig;
use crate::error::FrrError;
pub use rrd_process::OnDrop;
use rrd_process::{AdoptError, PidFile, Pidfd, SpawnError, Supervisor, SupervisorOptions};

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How long a SIGTERM gets before SIGKILL follows.
pub const TERM_GRACE: Duration = Duration::from_secs(10);

/// Where bgpd listens: `-p` and `-l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub port: u16,
    /// Empty: every address.
    pub addresses: Vec<IpAddr>,
}

impl Listen {
    /// What a bgpd command line says.
    pub fn of_args(args: &[String]) -> Listen {
        let port = rrd_process::arg_after(args, "-p")
            .and_then(|p| p.parse().ok())
            .unwrap_or(179);
        let addresses = args
            .windows(2)
            .filter(|w| w[0] == "-l")
            .filter_map(|w| w[1].parse().ok())
            .collect();
        Listen { port, addresses }
    }
}

/// bgpd as rrd runs it: [`rrd_process::Daemon`] for the supervisor.
#[derive(Debug)]
pub struct Bgpd {
    config: FrrConfig,
    pub listen: Listen,
}

impl Bgpd {
    pub fn new(config: &FrrConfig, listen: Listen) -> Bgpd {
        Bgpd {
            config: config.clone(),
            listen,
        }
    }

    /// The command line (also what adoption checks).
    pub fn args(&self) -> Vec<String> {
        let c = &self.config;
        let mut args: Vec<String> = vec![
            "-Z".into(),
            "-S".into(),
            "-N".into(),
            c.pathspace.clone(),
            "--vty_socket".into(),
            c.socket_dir.display().to_string(),
            "-f".into(),
            c.config_path.display().to_string(),
            "-i".into(),
            c.socket_dir.join("bgpd.pid").display().to_string(),
            "-p".into(),
            self.listen.port.to_string(),
        ];
        for a in &self.listen.addresses {
            args.push("-l".into());
            args.push(a.to_string());
        }
        args.push("--log".into());
        args.push(match &c.log_file {
            Some(p) => format!("file:{}", p.display()),
            None => "stdout".into(),
        });
        args
    }
}

impl rrd_process::Daemon for Bgpd {
    fn command(&self, _restart: bool) -> Result<Command, SpawnError> {
        let c = &self.config;
        for dir in [Some(c.socket_dir.as_path()), c.config_path.parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir).map_err(|source| SpawnError::Spawn {
                program: format!("{} (folder {})", c.binary.display(), dir.display()),
                source,
            })?;
        }
        let mut cmd = Command::new(&c.binary);
        cmd.args(self.args());
        Ok(cmd)
    }

    fn started(&self, pid: u32, _child: &mut Child, restart: bool) {
        if restart {
            tracing::warn!(pid, "restarted bgpd; it reloads rrd's configuration file");
        } else {
            tracing::info!(pid, socket = %self.config.vty_path().display(), "started bgpd");
        }
    }
}

fn options(on_drop: OnDrop) -> SupervisorOptions {
    SupervisorOptions {
        name: "bgpd",
        backoff_start: BACKOFF_START,
        backoff_max: BACKOFF_MAX,
        healthy_after: HEALTHY_AFTER,
        term_grace: TERM_GRACE,
        on_drop,
    }
}

/// A supervised bgpd.
#[derive(Debug)]
pub struct ManagedBgpd {
    supervisor: Supervisor<Bgpd>,
    /// Held while this handle manages bgpd; released after the supervisor.
    _lock: PidFile,
}

impl ManagedBgpd {
    /// Start bgpd and its supervisor task (on the current tokio runtime).
    pub fn start(bgpd: Bgpd, pidfile: PidFile, on_drop: OnDrop) -> Result<ManagedBgpd, FrrError> {
        let supervisor = Supervisor::spawn(bgpd, options(on_drop), &pidfile)?;
        Ok(ManagedBgpd {
            supervisor,
            _lock: pidfile,
        })
    }

    /// The bgpd `pidfile` names, if it still runs as this config's daemon,
    /// with its command line: left by a previous rrd.
    pub fn find_adoptable(config: &FrrConfig, pidfile: &PidFile) -> Option<(Pidfd, Vec<String>)> {
        let pid = pidfile.read()?;
        match Pidfd::open_checked(pid, |args| config.is_own_daemon(args)) {
            Ok(pidfd) => Some((pidfd, rrd_process::cmdline(pid).unwrap_or_default())),
            Err(AdoptError::NotOurs { args, .. }) => {
                tracing::debug!(
                    pid,
                    ?args,
                    "the PID file names a process that is not our bgpd"
                );
                None
            }
            Err(AdoptError::Track { .. }) => None,
        }
    }

    /// Supervise a bgpd found by [`ManagedBgpd::find_adoptable`].
    pub fn adopt(bgpd: Bgpd, pidfd: Pidfd, pidfile: PidFile, on_drop: OnDrop) -> ManagedBgpd {
        tracing::info!(
            pid = pidfd.pid(),
            "adopted the running bgpd (left by a previous rrd); its sessions stay up"
        );
        let supervisor = Supervisor::adopt(bgpd, options(on_drop), pidfd, &pidfile);
        ManagedBgpd {
            supervisor,
            _lock: pidfile,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.supervisor.pid()
    }

    pub fn last_exit(&self) -> Option<String> {
        self.supervisor.last_exit()
    }

    pub fn restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    pub fn listen(&self) -> &Listen {
        &self.supervisor.daemon().listen
    }

    /// Stop for good: send `signal` (SIGKILL after a grace period for
    /// anything else), wait for the exit, do not restart.
    pub async fn stop(mut self, signal: Signal) {
        if let Err(e) = self.supervisor.stop(Some(signal), TERM_GRACE).await {
            tracing::error!(error = %e, %signal, "cannot stop bgpd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_pathspace_socket_file_and_listener() {
        let c = FrrConfig::default();
        let b = Bgpd::new(
            &c,
            Listen {
                port: 11179,
                addresses: vec![
                    "198.51.100.1".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ],
            },
        );
        let mut args = vec![c.binary.display().to_string()];
        args.extend(b.args());
        assert!(c.is_own_daemon(&args), "{args:?}");
        assert_eq!(Listen::of_args(&args), b.listen);
        let text = args.join(" ");
        assert!(
            text.contains("-Z -S -N rrd --vty_socket /run/frr/rrd -f /etc/frr/rrd/bgpd.conf"),
            "{text}"
        );
        assert!(
            text.contains("-p 11179 -l 198.51.100.1 -l 2001:db8::1 --log stdout"),
            "{text}"
        );
    }
}
