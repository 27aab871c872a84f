//! A gobgpd that rrd runs itself (`manage_process = true`): started as
//! `gobgpd --api-hosts <api> --pprof-disable --log-plain`, tracked by PID,
//! restarted with exponential backoff when it dies (it then comes back with
//! no BGP configuration, which the engine reports as
//! [`rrd_core::DaemonState::Unconfigured`]), stopped with a chosen signal,
//! and killed with SIGKILL when dropped.
//!
//! One task owns the child process; the engine talks to it through a
//! channel, so the PID is only signalled while the child is not yet reaped.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::GobgpConfig;
use crate::error::GobgpError;

/// First restart delay; doubled per quick death, capped.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A daemon that ran this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// How long a SIGTERM gets before SIGKILL follows.
const TERM_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Shared {
    /// PID of the running child; 0 while none runs.
    pid: AtomicU32,
    /// Deaths noticed (restarts attempted).
    restarts: AtomicU64,
}

#[derive(Debug)]
struct StopRequest {
    signal: Signal,
    done: oneshot::Sender<()>,
}

/// A supervised gobgpd.
#[derive(Debug)]
pub struct ManagedDaemon {
    shared: Arc<Shared>,
    stop_tx: mpsc::Sender<StopRequest>,
    task: tokio::task::JoinHandle<()>,
}

fn command(config: &GobgpConfig) -> Result<Command, GobgpError> {
    let mut cmd = Command::new(&config.binary);
    cmd.arg("--api-hosts")
        .arg(&config.api)
        .arg("--pprof-disable")
        .arg("--log-plain")
        .stdin(Stdio::null())
        .kill_on_drop(true);
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

fn spawn(config: &GobgpConfig) -> Result<Child, GobgpError> {
    command(config)?
        .spawn()
        .map_err(|source| GobgpError::Spawn {
            binary: config.binary.display().to_string(),
            source,
        })
}

impl ManagedDaemon {
    /// Start gobgpd and its supervisor task (on the current tokio runtime).
    pub fn start(config: &GobgpConfig) -> Result<ManagedDaemon, GobgpError> {
        let child = spawn(config)?;
        let shared = Arc::new(Shared::default());
        shared.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        tracing::info!(pid = child.id(), api = %config.api, "started gobgpd");
        let (stop_tx, stop_rx) = mpsc::channel(1);
        let task = tokio::spawn(supervise(config.clone(), child, shared.clone(), stop_rx));
        Ok(ManagedDaemon {
            shared,
            stop_tx,
            task,
        })
    }

    /// PID of the running gobgpd, if one runs.
    pub fn pid(&self) -> Option<u32> {
        match self.shared.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How often the daemon died and was restarted.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::SeqCst)
    }

    /// Stop for good: send `signal` (SIGKILL after a grace period for
    /// anything else), wait for the exit, do not restart.
    pub async fn stop(self, signal: Signal) {
        let (done, wait) = oneshot::channel();
        if self
            .stop_tx
            .send(StopRequest { signal, done })
            .await
            .is_ok()
        {
            let _ = wait.await;
        }
    }
}

impl Drop for ManagedDaemon {
    fn drop(&mut self) {
        // Killed on drop: the task may never run again (runtime gone), so
        // signal directly as well; the child is still unreaped while the
        // PID is non-zero.
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        self.task.abort();
    }
}

async fn terminate(child: &mut Child, signal: Signal) {
    if let Some(pid) = child.id() {
        if let Err(e) = kill(Pid::from_raw(pid as i32), signal) {
            tracing::warn!(pid, %signal, error = %e, "cannot signal gobgpd");
        }
    }
    if signal != Signal::SIGKILL {
        if tokio::time::timeout(TERM_GRACE, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(pid = child.id(), "gobgpd ignored {signal}, killing it");
        let _ = child.start_kill();
    }
    let _ = child.wait().await;
}

async fn supervise(
    config: GobgpConfig,
    child: Child,
    shared: Arc<Shared>,
    mut stop_rx: mpsc::Receiver<StopRequest>,
) {
    let mut child = Some(child);
    let mut started = Instant::now();
    let mut backoff = BACKOFF_START;
    loop {
        let Some(running) = child.as_mut() else {
            // Not running: wait out the backoff (or a stop), then respawn.
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                req = stop_rx.recv() => {
                    if let Some(req) = req { let _ = req.done.send(()); }
                    return;
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
            match spawn(&config) {
                Ok(c) => {
                    shared.pid.store(c.id().unwrap_or(0), Ordering::SeqCst);
                    tracing::warn!(
                        pid = c.id(),
                        "restarted gobgpd; it holds no BGP configuration until rrd re-applies"
                    );
                    started = Instant::now();
                    child = Some(c);
                }
                Err(e) => tracing::error!(error = %e, "cannot restart gobgpd"),
            }
            continue;
        };
        tokio::select! {
            status = running.wait() => {
                shared.pid.store(0, Ordering::SeqCst);
                shared.restarts.fetch_add(1, Ordering::SeqCst);
                if started.elapsed() > HEALTHY_AFTER {
                    backoff = BACKOFF_START;
                }
                tracing::error!(status = ?status.ok(), retry_in = ?backoff, "gobgpd exited");
                child = None;
            }
            req = stop_rx.recv() => {
                let signal = req.as_ref().map(|r| r.signal).unwrap_or(Signal::SIGKILL);
                terminate(running, signal).await;
                shared.pid.store(0, Ordering::SeqCst);
                tracing::info!(%signal, "stopped gobgpd");
                if let Some(req) = req { let _ = req.done.send(()); }
                return;
            }
        }
    }
}
