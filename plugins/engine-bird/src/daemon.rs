//! A BIRD daemon that rrd runs itself (`manage_process = true`): spawned
//! in the foreground (`bird -f -c CFG -s SOCK [-R]`), restarted with
//! backoff when it dies, stopped by PID, and killed when the handle is
//! dropped — also when the test or the runtime panics.
//!
//! Sits under the engine: the engine decides *when* (first apply, `start`,
//! `stop`); this module owns the child process and its output, which goes
//! to `tracing` and to a short buffer quoted in start-up errors.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::BirdError;

/// First delay before restarting a daemon that died; doubles up to
/// [`MAX_BACKOFF`], and starts over after [`STABLE_RUN`] of uptime.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STABLE_RUN: Duration = Duration::from_secs(60);
/// Output lines kept for error messages.
const TAIL_LINES: usize = 40;

/// How to run one daemon.
#[derive(Clone, Debug)]
pub struct DaemonSpec {
    /// `bird` or `bird6`, for logs.
    pub name: &'static str,
    pub binary: PathBuf,
    /// Absolute paths: BIRD reports and re-reads them as given.
    pub config: PathBuf,
    pub socket: PathBuf,
}

#[derive(Debug, Default)]
struct Shared {
    /// The running child's PID; `None` once it has been reaped.
    pid: Mutex<Option<u32>>,
    /// Set before any deliberate stop so that the exit is not "restarted".
    stopping: AtomicBool,
    tail: Mutex<VecDeque<String>>,
    last_exit: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A supervised daemon. Dropping it kills the process.
#[derive(Debug)]
pub struct Supervised {
    spec: DaemonSpec,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Start the daemon now (`restarting` adds `-R`: graceful-restart
    /// recovery) and supervise it. Restarts after a crash are normal starts.
    pub fn spawn(spec: DaemonSpec, restarting: bool) -> Result<Supervised, BirdError> {
        let shared = Arc::new(Shared::default());
        let child = spawn_child(&spec, restarting, &shared)?;
        let task = tokio::spawn(supervise(spec.clone(), shared.clone(), child));
        Ok(Supervised {
            spec,
            shared,
            task: Some(task),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        *lock(&self.shared.pid)
    }

    /// How the last run ended (`exit status: 1`), if one ended.
    pub fn last_exit(&self) -> Option<String> {
        lock(&self.shared.last_exit).clone()
    }

    /// The daemon's recent output, one line each.
    pub fn output_tail(&self) -> String {
        lock(&self.shared.tail)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop supervising and end the process: send `signal` (or nothing,
    /// when the caller already asked the daemon to exit, e.g. `graceful
    /// restart` over the socket), wait up to `grace`, then SIGKILL.
    pub async fn stop(mut self, signal: Option<Signal>, grace: Duration) -> Result<(), BirdError> {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(signal) = signal {
            self.signal(signal);
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        if self.pid().is_none() {
            // Dead and waiting out its restart backoff: nothing to signal.
            task.abort();
            return Ok(());
        }
        if tokio::time::timeout(grace, &mut task).await.is_ok() {
            return Ok(());
        }
        tracing::warn!(
            daemon = self.spec.name,
            ?grace,
            "daemon did not exit in time; killing it"
        );
        self.signal(Signal::SIGKILL);
        match tokio::time::timeout(Duration::from_secs(10), &mut task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                task.abort();
                Err(BirdError::Stop {
                    binary: self.spec.binary.clone(),
                    detail: "still running 10 s after SIGKILL".into(),
                })
            }
        }
    }

    /// Mark the coming exit as deliberate (before asking the daemon to exit
    /// over its socket).
    pub fn expect_exit(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }

    fn signal(&self, signal: Signal) {
        // Under the lock: the supervisor clears the PID right after reaping,
        // so a signal never reaches a recycled PID.
        let pid = lock(&self.shared.pid);
        if let Some(pid) = *pid {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(raw), signal);
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if self.task.is_some() {
            self.signal(Signal::SIGKILL);
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn spawn_child(
    spec: &DaemonSpec,
    restarting: bool,
    shared: &Arc<Shared>,
) -> Result<Child, BirdError> {
    let mut cmd = Command::new(&spec.binary);
    cmd.arg("-f")
        .arg("-c")
        .arg(&spec.config)
        .arg("-s")
        .arg(&spec.socket);
    if restarting {
        cmd.arg("-R");
    }
    // Own process group: a Ctrl-C meant for rrd must not make BIRD send
    // Cease to every peer; rrd decides how BIRD stops.
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| BirdError::Spawn {
        binary: spec.binary.clone(),
        source,
    })?;
    let pid = child.id();
    *lock(&shared.pid) = pid;
    *lock(&shared.last_exit) = None;
    tracing::info!(daemon = spec.name, pid, restarting, config = %spec.config.display(), "started BIRD");
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_output(spec.name, out, shared.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_output(spec.name, err, shared.clone()));
    }
    Ok(child)
}

async fn forward_output(name: &'static str, stream: impl AsyncRead + Unpin, shared: Arc<Shared>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        // BIRD's log lines carry their class: `<ERR>`, `<WARN>`, `<INFO>`...
        if line.contains("<ERR>") || line.contains("<BUG>") || line.contains("<FATAL>") {
            tracing::error!(daemon = name, "{line}");
        } else if line.contains("<WARN>") || line.contains("<AUTH>") {
            tracing::warn!(daemon = name, "{line}");
        } else {
            tracing::info!(daemon = name, "{line}");
        }
        let mut tail = lock(&shared.tail);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Wait for the child; unless the exit was asked for, start it again after
/// a backoff that grows while it keeps dying.
async fn supervise(spec: DaemonSpec, shared: Arc<Shared>, mut child: Child) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let status = child.wait().await;
        let how = match &status {
            Ok(s) => s.to_string(),
            Err(e) => format!("wait failed: {e}"),
        };
        *lock(&shared.pid) = None;
        *lock(&shared.last_exit) = Some(how.clone());
        if shared.stopping.load(Ordering::SeqCst) {
            tracing::info!(daemon = spec.name, status = %how, "BIRD stopped");
            return;
        }
        if started.elapsed() >= STABLE_RUN {
            backoff = FIRST_BACKOFF;
        }
        loop {
            tracing::error!(daemon = spec.name, status = %how, retry_in = ?backoff, "BIRD exited unexpectedly; restarting it");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            match spawn_child(&spec, false, &shared) {
                Ok(c) => {
                    child = c;
                    break;
                }
                Err(e) => tracing::error!(daemon = spec.name, error = %e, "cannot restart BIRD"),
            }
        }
    }
}
