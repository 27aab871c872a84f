//! A gobgpd that rrd runs itself (`manage_process = true`): started as
//! `gobgpd --api-hosts <api> --pprof-disable --log-plain` with its PID in
//! `<state_dir>/gobgpd.pid`, or adopted from the rrd that ran before.
//!
//! Sits under the engine, which decides when to start, adopt and stop;
//! [`rrd_process::Supervisor`] owns the process: it restarts gobgpd with
//! exponential backoff when it dies (it then comes back with no BGP
//! configuration, which the engine reports as
//! [`rrd_core::DaemonState::Unconfigured`]), stops it with a chosen signal
//! through a pidfd, and when the handle is dropped (rrd exits) leaves it
//! running with its sessions for the next rrd to adopt ([`OnDrop::Leave`])
//! or stops it with SIGTERM ([`OnDrop::Stop`], `stop_daemon_on_exit =
//! true`). This module keeps what is gobgpd's: its command line and log
//! file, and which running process counts as rrd's gobgpd.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::config::GobgpConfig;
use crate::error::GobgpError;
pub use rrd_process::OnDrop;
use rrd_process::{AdoptError, PidFile, Pidfd, SpawnError, Supervisor, SupervisorOptions};

/// First restart delay; doubled per quick death, capped.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A daemon that ran this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How long a SIGTERM gets before SIGKILL follows.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// gobgpd as rrd runs it: [`rrd_process::Daemon`] for the supervisor.
#[derive(Debug)]
struct Gobgpd(GobgpConfig);

impl rrd_process::Daemon for Gobgpd {
    fn command(&self, _restart: bool) -> Result<Command, SpawnError> {
        let config = &self.0;
        let mut cmd = Command::new(&config.binary);
        cmd.arg("--api-hosts")
            .arg(&config.api)
            .arg("--pprof-disable")
            .arg("--log-plain");
        if config.gogc != 0 {
            cmd.env("GOGC", config.gogc.to_string());
        }
        if let Some(path) = &config.log_file {
            let open = || {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            };
            let spawn_err = |source| SpawnError::Spawn {
                program: format!("{} (log file {})", config.binary.display(), path.display()),
                source,
            };
            cmd.stdout(open().map_err(spawn_err)?);
            cmd.stderr(open().map_err(spawn_err)?);
        }
        Ok(cmd)
    }

    fn started(&self, pid: u32, _child: &mut Child, restart: bool) {
        if restart {
            tracing::warn!(
                pid,
                "restarted gobgpd; it holds no BGP configuration until rrd re-applies"
            );
        } else {
            tracing::info!(pid, api = %self.0.api, "started gobgpd");
        }
    }
}

fn options(on_drop: OnDrop) -> SupervisorOptions {
    SupervisorOptions {
        name: "gobgpd",
        backoff_start: BACKOFF_START,
        backoff_max: BACKOFF_MAX,
        healthy_after: HEALTHY_AFTER,
        term_grace: TERM_GRACE,
        on_drop,
    }
}

/// A supervised gobgpd.
#[derive(Debug)]
pub struct ManagedDaemon {
    supervisor: Supervisor<Gobgpd>,
    /// Held while this handle manages gobgpd: no other rrd may. Declared
    /// after the supervisor: released only once its drop is done.
    _lock: PidFile,
}

impl ManagedDaemon {
    /// Start gobgpd and its supervisor task (on the current tokio runtime).
    pub fn start(
        config: &GobgpConfig,
        pidfile: PidFile,
        on_drop: OnDrop,
    ) -> Result<ManagedDaemon, GobgpError> {
        let supervisor = Supervisor::spawn(Gobgpd(config.clone()), options(on_drop), &pidfile)?;
        Ok(ManagedDaemon {
            supervisor,
            _lock: pidfile,
        })
    }

    /// The gobgpd that `pidfile` names, if it still runs as this config's
    /// daemon (binary name, `--api-hosts <api>`): left by a previous rrd.
    pub fn find_adoptable(config: &GobgpConfig, pidfile: &PidFile) -> Option<Pidfd> {
        let pid = pidfile.read()?;
        match Pidfd::open_checked(pid, |args| config.is_own_daemon(args)) {
            Ok(pidfd) => Some(pidfd),
            Err(AdoptError::NotOurs { args, .. }) => {
                tracing::debug!(
                    pid,
                    ?args,
                    "the PID file names a process that is not our gobgpd"
                );
                None
            }
            Err(AdoptError::Track { .. }) => None,
        }
    }

    /// Supervise a gobgpd found by [`ManagedDaemon::find_adoptable`].
    pub fn adopt(
        config: &GobgpConfig,
        pidfd: Pidfd,
        pidfile: PidFile,
        on_drop: OnDrop,
    ) -> ManagedDaemon {
        tracing::info!(pid = pidfd.pid(), api = %config.api, "adopted the running gobgpd (left by a previous rrd); its sessions stay up");
        let supervisor =
            Supervisor::adopt(Gobgpd(config.clone()), options(on_drop), pidfd, &pidfile);
        ManagedDaemon {
            supervisor,
            _lock: pidfile,
        }
    }

    /// PID of the running gobgpd, if one runs.
    pub fn pid(&self) -> Option<u32> {
        self.supervisor.pid()
    }

    /// How often the daemon died and was restarted.
    pub fn restarts(&self) -> u64 {
        self.supervisor.restarts()
    }

    /// Stop for good: send `signal` (SIGKILL after a grace period for
    /// anything else), wait for the exit, do not restart.
    pub async fn stop(mut self, signal: Signal) {
        if let Err(e) = self.supervisor.stop(Some(signal), TERM_GRACE).await {
            tracing::error!(error = %e, %signal, "cannot stop gobgpd");
        }
    }
}
