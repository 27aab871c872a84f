//! [`Supervisor`]: one managed daemon (BIRD, bird6, gobgpd) under an engine
//! that runs it itself (`manage_process = true`).
//!
//! Sits under the engine, which decides *when* (start, stop, adopt) and
//! says *what* through a [`Daemon`]: the command line and what to do with
//! a started instance (BIRD forwards its output into `tracing`). This
//! module owns the rest, the same for every daemon: it spawns the instance
//! (own process group, not killed with rrd) or takes over one a previous
//! rrd left running; holds it by a pidfd; records its PID in the locked
//! PID file; restarts it with a backoff that doubles while it keeps dying
//! and starts over once it ran long enough; stops it with a signal, a
//! grace period and SIGKILL; and when the handle is dropped (rrd exits)
//! leaves it running for the next rrd ([`OnDrop::Leave`]: hitless
//! restarts) or stops it ([`OnDrop::Stop`]).

use std::io;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{PidFile, PidRecorder, Pidfd};

/// How long [`Supervisor::stop`] waits after its SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// The same for a dropped handle ([`OnDrop::Stop`]), which blocks.
const DROP_KILL_WAIT: Duration = Duration::from_secs(5);

/// What happens to the daemon when its handle is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// Leave it running (rrd restarts are hitless); the next engine adopts it.
    Leave,
    /// SIGTERM (Cease to every peer), SIGKILL after the term grace.
    Stop,
}

/// How one daemon is supervised.
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    /// For logs: `bird`, `bird6`, `gobgpd`.
    pub name: &'static str,
    /// First delay before restarting a daemon that died; doubled per quick
    /// death, up to `backoff_max`.
    pub backoff_start: Duration,
    pub backoff_max: Duration,
    /// A run this long starts the backoff over.
    pub healthy_after: Duration,
    /// How long a dropped handle waits for SIGTERM before SIGKILL; it
    /// blocks, so it is kept short.
    pub term_grace: Duration,
    pub on_drop: OnDrop,
}

/// The daemon-specific part: how to start one instance.
pub trait Daemon: Send + Sync + 'static {
    /// The command that runs one instance in the foreground, with its
    /// arguments and stdout/stderr. The supervisor adds what every daemon
    /// needs: stdin from `/dev/null`, its own process group, no kill on
    /// drop. `restart`: it replaces an instance that died.
    fn command(&self, restart: bool) -> Result<Command, SpawnError>;

    /// The instance `pid` runs and is recorded: take its pipes, say so.
    /// Called with the supervisor's state locked; it must be quick.
    fn started(&self, pid: u32, child: &mut Child, restart: bool) {
        let _ = (pid, child, restart);
    }
}

/// Why an instance did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The command could not be prepared or run; `program` says what it
    /// was (the binary, or what it needed: `gobgpd (log file ...)`).
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// It started, but cannot be held by a pidfd (it was killed again).
    #[error("cannot track pid {pid} with a pidfd (Linux >= 5.3 needed): {source}")]
    Track {
        pid: u32,
        #[source]
        source: io::Error,
    },
}

/// Why a stop did not end the daemon.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("{name} still running {waited:?} after SIGKILL")]
    StillRunning {
        name: &'static str,
        waited: Duration,
    },
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Current = Option<Arc<Pidfd>>;

#[derive(Debug)]
struct Inner<D> {
    daemon: D,
    options: SupervisorOptions,
    /// The running instance; `None` once its exit has been seen. Its lock
    /// also orders `stopping` against restarts: a restart checks
    /// `stopping` and installs the new instance under it.
    current: Mutex<Current>,
    /// Set before any deliberate stop so that the exit is not "restarted".
    stopping: AtomicBool,
    last_exit: Mutex<Option<String>>,
    /// Deaths noticed (restarts attempted).
    restarts: AtomicU64,
    /// Where the running daemon's PID is recorded. The lock stays with the
    /// engine; the task holding this may be dropped after the engine.
    pidfile: PidRecorder,
}

impl<D: Daemon> Inner<D> {
    fn new(daemon: D, options: SupervisorOptions, pidfile: &PidFile) -> Arc<Inner<D>> {
        Arc::new(Inner {
            daemon,
            options,
            current: Mutex::new(None),
            stopping: AtomicBool::new(false),
            last_exit: Mutex::new(None),
            restarts: AtomicU64::new(0),
            pidfile: pidfile.recorder(),
        })
    }

    fn name(&self) -> &'static str {
        self.options.name
    }

    fn record_pid(&self, pid: Option<u32>) {
        if let Err(e) = self.pidfile.write(pid) {
            tracing::warn!(daemon = self.name(), file = %self.pidfile.path().display(), error = %e, "cannot record the daemon's PID; a restarted rrd will not adopt it");
        }
    }

    /// Mark what comes as deliberate; the instance running now, if any
    /// (none will be started after this).
    fn stop_restarts(&self) -> Current {
        let current = lock(&self.current);
        self.stopping.store(true, Ordering::SeqCst);
        current.clone()
    }

    /// Start an instance, hold it by a pidfd, record its PID.
    fn start(&self, current: &mut Current, restart: bool) -> Result<Child, SpawnError> {
        let mut cmd = self.daemon.command(restart)?;
        // Own process group: a Ctrl-C meant for rrd must not make the
        // daemon send Cease to every peer; rrd decides how it stops. Not
        // killed with the handle either: it may outlive rrd (`OnDrop`).
        cmd.stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|source| SpawnError::Spawn {
            program: cmd.as_std().get_program().to_string_lossy().into_owned(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        let pidfd = match Pidfd::open(pid) {
            Ok(p) => p,
            Err(source) => {
                let _ = child.start_kill();
                return Err(SpawnError::Track { pid, source });
            }
        };
        *current = Some(Arc::new(pidfd));
        *lock(&self.last_exit) = None;
        self.record_pid(Some(pid));
        self.daemon.started(pid, &mut child, restart);
        Ok(child)
    }

    /// Start a replacement, unless a stop was asked for (`None`).
    fn restart(&self) -> Option<Result<Child, SpawnError>> {
        let mut current = lock(&self.current);
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        Some(self.start(&mut current, true))
    }

    fn signal(&self, p: &Pidfd, signal: Signal) {
        // Through the pidfd: a signal never reaches a recycled PID.
        if let Err(e) = p.signal(signal) {
            tracing::debug!(daemon = self.name(), pid = p.pid(), %signal, error = %e, "cannot signal the daemon");
        }
    }
}

/// The process the supervisor waits for.
enum Running {
    Child(Child),
    /// Not our child (adopted): only its pidfd tells when it exits.
    Adopted(Arc<Pidfd>),
}

impl Running {
    /// Wait for the exit; how it ended, for logs.
    async fn exited(&mut self) -> String {
        match self {
            Running::Child(c) => match c.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            },
            Running::Adopted(p) => {
                p.exited().await;
                "exited (adopted, not rrd's child: status unknown)".to_owned()
            }
        }
    }
}

/// A supervised daemon; one task (on the current tokio runtime) waits for
/// it and restarts it.
#[derive(Debug)]
pub struct Supervisor<D: Daemon> {
    inner: Arc<Inner<D>>,
    /// `None` once stopped.
    task: Option<JoinHandle<()>>,
}

impl<D: Daemon> Supervisor<D> {
    /// Start the daemon now and supervise it; its PID goes into `pidfile`
    /// (whose lock stays with the caller).
    pub fn spawn(
        daemon: D,
        options: SupervisorOptions,
        pidfile: &PidFile,
    ) -> Result<Supervisor<D>, SpawnError> {
        let inner = Inner::new(daemon, options, pidfile);
        let child = inner.start(&mut lock(&inner.current), false)?;
        Ok(Self::supervise(inner, Running::Child(child)))
    }

    /// Supervise a daemon that a previous rrd started and left running,
    /// held by `pidfd` (checked by the caller, e.g. [`Pidfd::open_checked`]);
    /// `pidfile` already names it.
    pub fn adopt(
        daemon: D,
        options: SupervisorOptions,
        pidfd: Pidfd,
        pidfile: &PidFile,
    ) -> Supervisor<D> {
        let inner = Inner::new(daemon, options, pidfile);
        let pidfd = Arc::new(pidfd);
        *lock(&inner.current) = Some(pidfd.clone());
        Self::supervise(inner, Running::Adopted(pidfd))
    }

    fn supervise(inner: Arc<Inner<D>>, running: Running) -> Supervisor<D> {
        let task = tokio::spawn(supervise(inner.clone(), running));
        Supervisor {
            inner,
            task: Some(task),
        }
    }

    pub fn daemon(&self) -> &D {
        &self.inner.daemon
    }

    /// PID of the running instance, if one runs.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.inner.current).as_ref().map(|p| p.pid())
    }

    /// How the last run ended (`exit status: 1`), if one ended.
    pub fn last_exit(&self) -> Option<String> {
        lock(&self.inner.last_exit).clone()
    }

    /// How often the daemon died and was restarted.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::SeqCst)
    }

    /// Mark the coming exit as deliberate (before asking the daemon to exit
    /// by other means, e.g. over its control socket).
    pub fn expect_exit(&self) {
        self.inner.stop_restarts();
    }

    /// Stop supervising and end the process: send `signal` (or nothing,
    /// when the caller already asked the daemon to exit), wait up to
    /// `grace`, then SIGKILL. Afterwards this handle supervises nothing.
    pub async fn stop(&mut self, signal: Option<Signal>, grace: Duration) -> Result<(), StopError> {
        let inner = &self.inner;
        let current = inner.stop_restarts();
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        let Some(current) = current else {
            // Dead and waiting out its restart backoff: nothing to signal.
            task.abort();
            inner.record_pid(None);
            return Ok(());
        };
        if let Some(signal) = signal {
            inner.signal(&current, signal);
        }
        if tokio::time::timeout(grace, &mut task).await.is_ok() {
            return Ok(());
        }
        tracing::warn!(
            daemon = inner.name(),
            ?grace,
            "daemon did not exit in time; killing it"
        );
        inner.signal(&current, Signal::SIGKILL);
        match tokio::time::timeout(KILL_WAIT, &mut task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                task.abort();
                Err(StopError::StillRunning {
                    name: inner.name(),
                    waited: KILL_WAIT,
                })
            }
        }
    }
}

impl<D: Daemon> Drop for Supervisor<D> {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        let inner = &self.inner;
        let name = inner.name();
        // The task may never run again (runtime going away): act here.
        match inner.options.on_drop {
            OnDrop::Leave => {
                // The instance was spawned without kill-on-drop in its own
                // process group: ending the task leaves it running.
                task.abort();
                if let Some(p) = lock(&inner.current).as_ref() {
                    tracing::info!(daemon = name, pid = p.pid(), "leaving {name} running with its sessions (stop_daemon_on_exit = false); the next rrd adopts it");
                }
            }
            OnDrop::Stop => {
                let current = inner.stop_restarts();
                task.abort();
                if let Some(p) = current {
                    tracing::info!(
                        daemon = name,
                        pid = p.pid(),
                        "stopping {name} (stop_daemon_on_exit = true)"
                    );
                    let _ = p.signal(Signal::SIGTERM);
                    if !p.wait_blocking(inner.options.term_grace) {
                        tracing::warn!(
                            daemon = name,
                            pid = p.pid(),
                            "{name} ignored SIGTERM; killing it"
                        );
                        let _ = p.signal(Signal::SIGKILL);
                        p.wait_blocking(DROP_KILL_WAIT);
                    }
                }
                inner.record_pid(None);
            }
        }
    }
}

/// Wait for the process; unless the exit was asked for, start it again
/// after a backoff that grows while it keeps dying.
async fn supervise<D: Daemon>(inner: Arc<Inner<D>>, mut running: Running) {
    let o = &inner.options;
    let name = o.name;
    let mut backoff = o.backoff_start;
    loop {
        let started = Instant::now();
        let status = running.exited().await;
        *lock(&inner.current) = None;
        *lock(&inner.last_exit) = Some(status.clone());
        if inner.stopping.load(Ordering::SeqCst) {
            tracing::info!(daemon = name, %status, "{name} stopped");
            inner.record_pid(None);
            return;
        }
        inner.restarts.fetch_add(1, Ordering::SeqCst);
        if started.elapsed() >= o.healthy_after {
            backoff = o.backoff_start;
        }
        tracing::error!(daemon = name, %status, retry_in = ?backoff, "{name} exited unexpectedly; restarting it");
        running = loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(o.backoff_max);
            match inner.restart() {
                None => return,
                Some(Ok(child)) => break Running::Child(child),
                Some(Err(e)) => {
                    tracing::error!(daemon = name, error = %e, retry_in = ?backoff, "cannot restart {name}");
                }
            }
        };
    }
}

#[cfg(test)]
mod tests;
