//! A BIRD daemon that rrd runs itself (`manage_process = true`): spawned
//! in the foreground (`bird -f -c CFG -s SOCK [-R]`) with its PID recorded
//! in `<config_path>.rrd.pid`, or adopted from the rrd that ran before;
//! restarted with backoff when it dies; stopped through a pidfd.
//!
//! Sits under the engine: the engine decides *when* (first apply, `start`,
//! `stop`); this module owns the process and its output, which goes to
//! `tracing` and to a short buffer quoted in start-up errors. When the
//! handle is dropped (rrd exits) the daemon keeps running with its
//! sessions, for the next rrd to adopt ([`OnDrop::Leave`]), or is stopped
//! with SIGTERM ([`OnDrop::Stop`], `stop_daemon_on_exit = true`).

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::BirdError;
use rrd_process::{self as track, PidFile, PidRecorder, Pidfd};

/// First delay before restarting a daemon that died; doubles up to
/// [`MAX_BACKOFF`], and starts over after [`STABLE_RUN`] of uptime.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long a dropped handle waits for SIGTERM before SIGKILL
/// ([`OnDrop::Stop`]); it blocks, so it is kept short.
const DROP_GRACE: Duration = Duration::from_secs(10);
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

/// What happens to the daemon when its handle is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// Leave it running (rrd restarts are hitless); the next engine adopts it.
    Leave,
    /// SIGTERM (Cease to every peer), SIGKILL after [`DROP_GRACE`].
    Stop,
}

#[derive(Debug)]
struct Shared {
    /// The running process; `None` once its exit has been seen.
    current: Mutex<Option<Arc<Pidfd>>>,
    /// Set before any deliberate stop so that the exit is not "restarted".
    stopping: AtomicBool,
    tail: Mutex<VecDeque<String>>,
    last_exit: Mutex<Option<String>>,
    /// Where the running daemon's PID is recorded. The lock stays with the
    /// engine, which drops it at once; this task may be dropped later.
    pidfile: PidRecorder,
    /// Tasks forwarding the daemon's output.
    forwarders: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn new(pidfile: PidRecorder) -> Arc<Shared> {
        Arc::new(Shared {
            current: Mutex::new(None),
            stopping: AtomicBool::new(false),
            tail: Mutex::new(VecDeque::new()),
            last_exit: Mutex::new(None),
            pidfile,
            forwarders: Mutex::new(Vec::new()),
        })
    }

    fn record_pid(&self, name: &str, pid: Option<u32>) {
        if let Err(e) = self.pidfile.write(pid) {
            tracing::warn!(daemon = name, file = %self.pidfile.path().display(), error = %e, "cannot record BIRD's PID; a restarted rrd will not adopt this daemon");
        }
    }

    fn forward(
        &self,
        name: &'static str,
        stream: impl AsyncRead + Unpin + Send + 'static,
        shared: &Arc<Shared>,
    ) {
        let task = tokio::spawn(forward_output(name, stream, shared.clone()));
        let mut tasks = lock(&self.forwarders);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process the supervisor waits for.
enum Running {
    Child(Child),
    /// Not our child (adopted): only its pidfd tells when it exits.
    Adopted(Arc<Pidfd>),
}

/// A supervised daemon.
#[derive(Debug)]
pub struct Supervised {
    spec: DaemonSpec,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
    on_drop: OnDrop,
}

impl Supervised {
    /// Start the daemon now (`restarting` adds `-R`: graceful-restart
    /// recovery) and supervise it. Restarts after a crash are normal starts.
    pub fn spawn(
        spec: DaemonSpec,
        restarting: bool,
        pidfile: &PidFile,
        on_drop: OnDrop,
    ) -> Result<Supervised, BirdError> {
        let shared = Shared::new(pidfile.recorder());
        let child = spawn_child(&spec, restarting, &shared)?;
        let task = tokio::spawn(supervise(
            spec.clone(),
            shared.clone(),
            Running::Child(child),
        ));
        Ok(Supervised {
            spec,
            shared,
            task: Some(task),
            on_drop,
        })
    }

    /// Take over a daemon that a previous rrd started and left running.
    /// `holder` is the PID that serves the control socket (its peer
    /// credentials); it must be the PID recorded in `pidfile`, and that
    /// process must run `spec`'s binary with `spec`'s files. Anything else
    /// is refused: the daemon is not rrd's to supervise.
    pub fn adopt(
        spec: DaemonSpec,
        holder: Option<u32>,
        pidfile: &PidFile,
        on_drop: OnDrop,
    ) -> Result<Supervised, BirdError> {
        let refuse = |detail: String| BirdError::AlreadyRunning {
            socket: spec.socket.clone(),
            detail,
        };
        let Some(holder) = holder else {
            return Err(refuse(
                "the socket does not tell which process serves it".into(),
            ));
        };
        let recorded = pidfile.read();
        if recorded != Some(holder) {
            return Err(refuse(match recorded {
                None => format!(
                    "pid {holder} serves it and {} names no daemon of rrd's",
                    pidfile.path().display()
                ),
                Some(pid) => format!(
                    "pid {holder} serves it, but {} names pid {pid}",
                    pidfile.path().display()
                ),
            }));
        }
        let pidfd = Pidfd::open(holder).map_err(|source| BirdError::Track {
            pid: holder,
            source,
        })?;
        // Checked after the pidfd is open and while the process still runs:
        // then the command line is that of the process the pidfd holds.
        let args = track::cmdline(holder).unwrap_or_default();
        let files = (
            track::arg_after(&args, "-c").map(PathBuf::from),
            track::arg_after(&args, "-s").map(PathBuf::from),
        );
        if files != (Some(spec.config.clone()), Some(spec.socket.clone())) || pidfd.has_exited() {
            return Err(refuse(format!(
                "pid {holder} runs {:?}, not {} -c {} -s {}",
                args.join(" "),
                spec.binary.display(),
                spec.config.display(),
                spec.socket.display()
            )));
        }
        let shared = Shared::new(pidfile.recorder());
        let pidfd = Arc::new(pidfd);
        *lock(&shared.current) = Some(pidfd.clone());
        forward_adopted_output(spec.name, holder, &shared);
        tracing::info!(daemon = spec.name, pid = holder, config = %spec.config.display(), "adopted the running BIRD (left by a previous rrd); its sessions stay up");
        let task = tokio::spawn(supervise(
            spec.clone(),
            shared.clone(),
            Running::Adopted(pidfd),
        ));
        Ok(Supervised {
            spec,
            shared,
            task: Some(task),
            on_drop,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        lock(&self.shared.current).as_ref().map(|p| p.pid())
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
            self.shared.record_pid(self.spec.name, None);
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
        // Through the pidfd: a signal never reaches a recycled PID.
        if let Some(p) = lock(&self.shared.current).as_ref() {
            if let Err(e) = p.signal(signal) {
                tracing::debug!(daemon = self.spec.name, pid = p.pid(), %signal, error = %e, "cannot signal BIRD");
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        for f in lock(&self.shared.forwarders).drain(..) {
            f.abort();
        }
        let current = lock(&self.shared.current).clone();
        match self.on_drop {
            OnDrop::Leave => {
                // The child is spawned without kill-on-drop: ending the
                // supervisor leaves it running in its own process group.
                task.abort();
                if let Some(p) = current {
                    tracing::info!(daemon = self.spec.name, pid = p.pid(), "leaving BIRD running with its sessions (stop_daemon_on_exit = false); the next rrd adopts it");
                }
            }
            OnDrop::Stop => {
                self.shared.stopping.store(true, Ordering::SeqCst);
                task.abort();
                if let Some(p) = current {
                    tracing::info!(
                        daemon = self.spec.name,
                        pid = p.pid(),
                        "stopping BIRD (stop_daemon_on_exit = true)"
                    );
                    let _ = p.signal(Signal::SIGTERM);
                    if !p.wait_blocking(DROP_GRACE) {
                        tracing::warn!(
                            daemon = self.spec.name,
                            pid = p.pid(),
                            "BIRD ignored SIGTERM; killing it"
                        );
                        let _ = p.signal(Signal::SIGKILL);
                        p.wait_blocking(Duration::from_secs(5));
                    }
                }
                self.shared.record_pid(self.spec.name, None);
            }
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
    // Cease to every peer; rrd decides how BIRD stops. Not killed with the
    // handle either: the daemon may outlive rrd (see `OnDrop`).
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let mut child = cmd.spawn().map_err(|source| BirdError::Spawn {
        binary: spec.binary.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    let pidfd = match Pidfd::open(pid) {
        Ok(p) => p,
        Err(source) => {
            let _ = child.start_kill();
            return Err(BirdError::Track { pid, source });
        }
    };
    *lock(&shared.current) = Some(Arc::new(pidfd));
    *lock(&shared.last_exit) = None;
    shared.record_pid(spec.name, Some(pid));
    tracing::info!(daemon = spec.name, pid, restarting, config = %spec.config.display(), "started BIRD");
    if let Some(out) = child.stdout.take() {
        shared.forward(spec.name, out, shared);
    }
    if let Some(err) = child.stderr.take() {
        shared.forward(spec.name, err, shared);
    }
    Ok(child)
}

/// Read an adopted daemon's output again: its stdout/stderr are the pipes
/// the previous rrd read; `/proc/PID/fd/N` opens their read side anew.
/// (Lines written while no rrd ran are lost: BIRD ignores SIGPIPE.)
fn forward_adopted_output(name: &'static str, pid: u32, shared: &Arc<Shared>) {
    let mut seen = HashSet::new();
    for fd in [1, 2] {
        let path = format!("/proc/{pid}/fd/{fd}");
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_fifo() || !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        match tokio::net::unix::pipe::OpenOptions::new().open_receiver(&path) {
            Ok(rx) => shared.forward(name, rx, shared),
            Err(e) => {
                tracing::warn!(daemon = name, pid, fd, error = %e, "cannot read the adopted BIRD's output; its log is not forwarded until it restarts");
            }
        }
    }
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

/// Wait for the process; unless the exit was asked for, start it again
/// after a backoff that grows while it keeps dying.
async fn supervise(spec: DaemonSpec, shared: Arc<Shared>, mut running: Running) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let how = match &mut running {
            Running::Child(child) => match child.wait().await {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            },
            Running::Adopted(pidfd) => {
                pidfd.exited().await;
                "exited (adopted, not rrd's child: status unknown)".to_owned()
            }
        };
        *lock(&shared.current) = None;
        *lock(&shared.last_exit) = Some(how.clone());
        if shared.stopping.load(Ordering::SeqCst) {
            tracing::info!(daemon = spec.name, status = %how, "BIRD stopped");
            shared.record_pid(spec.name, None);
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
                    running = Running::Child(c);
                    break;
                }
                Err(e) => tracing::error!(daemon = spec.name, error = %e, "cannot restart BIRD"),
            }
        }
    }
}
