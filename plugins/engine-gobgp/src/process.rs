//! A gobgpd that rrd runs itself (`manage_process = true`): started as
//! `gobgpd --api-hosts <api> --pprof-disable --log-plain` with its PID in
//! `<state_dir>/gobgpd.pid`, or adopted from the rrd that ran before;
//! restarted with exponential backoff when it dies (it then comes back with
//! no BGP configuration, which the engine reports as
//! [`rrd_core::DaemonState::Unconfigured`]); stopped with a chosen signal.
//! When the handle is dropped (rrd exits) gobgpd keeps running with its
//! sessions for the next rrd to adopt ([`OnDrop::Leave`]), or is stopped
//! with SIGTERM ([`OnDrop::Stop`], `stop_daemon_on_exit = true`).
//!
//! One task owns the process; the engine talks to it through a channel.
//! Signals go through a pidfd, so they never reach a recycled PID.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::GobgpConfig;
use crate::error::GobgpError;
use rrd_process::{self as track, PidFile, PidRecorder, Pidfd};

/// First restart delay; doubled per quick death, capped.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A daemon that ran this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How long a SIGTERM gets before SIGKILL follows.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// What happens to gobgpd when its handle is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// Leave it running (rrd restarts are hitless); the next engine adopts it.
    Leave,
    /// SIGTERM (Cease to every peer), SIGKILL after [`TERM_GRACE`].
    Stop,
}

#[derive(Debug)]
struct Shared {
    /// The running gobgpd; `None` while none runs.
    current: Mutex<Option<Arc<Pidfd>>>,
    /// Deaths noticed (restarts attempted).
    restarts: AtomicU64,
    /// Where the running daemon's PID is recorded (the lock stays with
    /// the handle, which drops it at once; this task may be dropped later).
    pidfile: PidRecorder,
}

impl Shared {
    fn record_pid(&self, pid: Option<u32>) {
        if let Err(e) = self.pidfile.write(pid) {
            tracing::warn!(file = %self.pidfile.path().display(), error = %e, "cannot record gobgpd's PID; a restarted rrd will not adopt this daemon");
        }
    }

    fn signal(&self, signal: Signal) {
        if let Some(p) = lock(&self.current).as_ref() {
            if let Err(e) = p.signal(signal) {
                tracing::warn!(pid = p.pid(), %signal, error = %e, "cannot signal gobgpd");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct StopRequest {
    signal: Signal,
    done: oneshot::Sender<()>,
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

/// A supervised gobgpd.
#[derive(Debug)]
pub struct ManagedDaemon {
    shared: Arc<Shared>,
    stop_tx: mpsc::Sender<StopRequest>,
    task: Option<JoinHandle<()>>,
    on_drop: OnDrop,
    /// Held while this handle manages gobgpd: no other rrd may.
    _lock: PidFile,
}

fn command(config: &GobgpConfig) -> Result<Command, GobgpError> {
    let mut cmd = Command::new(&config.binary);
    cmd.arg("--api-hosts")
        .arg(&config.api)
        .arg("--pprof-disable")
        .arg("--log-plain")
        .stdin(Stdio::null())
        // Own process group: a Ctrl-C meant for rrd must not make gobgpd
        // send Cease to every peer. Not killed with the handle either: it
        // may outlive rrd (see `OnDrop`).
        .process_group(0)
        .kill_on_drop(false);
    if let Some(path) = &config.log_file {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        };
        let spawn_err = |source| GobgpError::Spawn {
            binary: format!("{} (log file {})", config.binary.display(), path.display()),
            source,
        };
        cmd.stdout(open().map_err(spawn_err)?);
        cmd.stderr(open().map_err(spawn_err)?);
    }
    Ok(cmd)
}

/// Start gobgpd, hold it by a pidfd, record its PID.
fn spawn(config: &GobgpConfig, shared: &Shared) -> Result<Child, GobgpError> {
    let mut child = command(config)?
        .spawn()
        .map_err(|source| GobgpError::Spawn {
            binary: config.binary.display().to_string(),
            source,
        })?;
    let pid = child.id().unwrap_or(0);
    let pidfd = match Pidfd::open(pid) {
        Ok(p) => p,
        Err(source) => {
            let _ = child.start_kill();
            return Err(GobgpError::Track { pid, source });
        }
    };
    *lock(&shared.current) = Some(Arc::new(pidfd));
    shared.record_pid(Some(pid));
    Ok(child)
}

impl ManagedDaemon {
    /// Start gobgpd and its supervisor task (on the current tokio runtime).
    pub fn start(
        config: &GobgpConfig,
        pidfile: PidFile,
        on_drop: OnDrop,
    ) -> Result<ManagedDaemon, GobgpError> {
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            restarts: AtomicU64::new(0),
            pidfile: pidfile.recorder(),
        });
        let child = spawn(config, &shared)?;
        tracing::info!(pid = child.id(), api = %config.api, "started gobgpd");
        Ok(Self::supervised(
            config,
            shared,
            Running::Child(child),
            on_drop,
            pidfile,
        ))
    }

    /// The gobgpd that `pidfile` names, if it still runs as this config's
    /// daemon (binary name, `--api-hosts <api>`): left by a previous rrd.
    pub fn find_adoptable(config: &GobgpConfig, pidfile: &PidFile) -> Option<Pidfd> {
        let pid = pidfile.read()?;
        let pidfd = Pidfd::open(pid).ok()?;
        // Checked after the pidfd is open and while the process still runs:
        // then the command line is that of the process the pidfd holds.
        let args = track::cmdline(pid)?;
        let ours = config.is_own_daemon(&args) && !pidfd.has_exited();
        if !ours {
            tracing::debug!(
                pid,
                ?args,
                "the PID file names a process that is not our gobgpd"
            );
        }
        ours.then_some(pidfd)
    }

    /// Supervise a gobgpd found by [`ManagedDaemon::find_adoptable`].
    pub fn adopt(
        config: &GobgpConfig,
        pidfd: Pidfd,
        pidfile: PidFile,
        on_drop: OnDrop,
    ) -> ManagedDaemon {
        let pidfd = Arc::new(pidfd);
        tracing::info!(pid = pidfd.pid(), api = %config.api, "adopted the running gobgpd (left by a previous rrd); its sessions stay up");
        let shared = Arc::new(Shared {
            current: Mutex::new(Some(pidfd.clone())),
            restarts: AtomicU64::new(0),
            pidfile: pidfile.recorder(),
        });
        Self::supervised(config, shared, Running::Adopted(pidfd), on_drop, pidfile)
    }

    fn supervised(
        config: &GobgpConfig,
        shared: Arc<Shared>,
        running: Running,
        on_drop: OnDrop,
        lock: PidFile,
    ) -> ManagedDaemon {
        let (stop_tx, stop_rx) = mpsc::channel(1);
        let task = tokio::spawn(supervise(config.clone(), running, shared.clone(), stop_rx));
        ManagedDaemon {
            shared,
            stop_tx,
            task: Some(task),
            on_drop,
            _lock: lock,
        }
    }

    /// PID of the running gobgpd, if one runs.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.shared.current).as_ref().map(|p| p.pid())
    }

    /// How often the daemon died and was restarted.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// Stop for good: send `signal` (SIGKILL after a grace period for
    /// anything else), wait for the exit, do not restart.
    pub async fn stop(mut self, signal: Signal) {
        let task = self.task.take();
        let (done, wait) = oneshot::channel();
        if self
            .stop_tx
            .send(StopRequest { signal, done })
            .await
            .is_ok()
        {
            let _ = wait.await;
        }
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for ManagedDaemon {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        // The task may never run again (runtime going away): act here.
        task.abort();
        let current = lock(&self.shared.current).clone();
        let Some(p) = current else {
            return;
        };
        match self.on_drop {
            OnDrop::Leave => {
                tracing::info!(pid = p.pid(), "leaving gobgpd running with its sessions (stop_daemon_on_exit = false); the next rrd adopts it");
            }
            OnDrop::Stop => {
                tracing::info!(
                    pid = p.pid(),
                    "stopping gobgpd (stop_daemon_on_exit = true)"
                );
                let _ = p.signal(Signal::SIGTERM);
                if !p.wait_blocking(TERM_GRACE) {
                    tracing::warn!(pid = p.pid(), "gobgpd ignored SIGTERM; killing it");
                    let _ = p.signal(Signal::SIGKILL);
                    p.wait_blocking(Duration::from_secs(5));
                }
                self.shared.record_pid(None);
            }
        }
    }
}

async fn terminate(running: &mut Running, shared: &Shared, signal: Signal) {
    shared.signal(signal);
    if signal != Signal::SIGKILL {
        if tokio::time::timeout(TERM_GRACE, running.exited())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!("gobgpd ignored {signal}, killing it");
        shared.signal(Signal::SIGKILL);
    }
    running.exited().await;
}

async fn supervise(
    config: GobgpConfig,
    running: Running,
    shared: Arc<Shared>,
    mut stop_rx: mpsc::Receiver<StopRequest>,
) {
    let mut running = Some(running);
    let mut started = Instant::now();
    let mut backoff = BACKOFF_START;
    loop {
        let Some(process) = running.as_mut() else {
            // Not running: wait out the backoff (or a stop), then respawn.
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                req = stop_rx.recv() => {
                    // `None`: the handle is gone and its drop decided.
                    if let Some(req) = req {
                        shared.record_pid(None);
                        let _ = req.done.send(());
                    }
                    return;
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            match spawn(&config, &shared) {
                Ok(c) => {
                    tracing::warn!(
                        pid = c.id(),
                        "restarted gobgpd; it holds no BGP configuration until rrd re-applies"
                    );
                    started = Instant::now();
                    running = Some(Running::Child(c));
                }
                Err(e) => tracing::error!(error = %e, "cannot restart gobgpd"),
            }
            continue;
        };
        tokio::select! {
            status = process.exited() => {
                *lock(&shared.current) = None;
                shared.restarts.fetch_add(1, Ordering::SeqCst);
                if started.elapsed() > HEALTHY_AFTER {
                    backoff = BACKOFF_START;
                }
                tracing::error!(%status, retry_in = ?backoff, "gobgpd exited");
                running = None;
            }
            req = stop_rx.recv() => {
                // `None`: the handle is gone and its drop decided.
                let Some(req) = req else { return };
                terminate(process, &shared, req.signal).await;
                *lock(&shared.current) = None;
                shared.record_pid(None);
                tracing::info!(signal = %req.signal, "stopped gobgpd");
                let _ = req.done.send(());
                return;
            }
        }
    }
}
