//! A BIRD daemon that rrd runs itself (`manage_process = true`): spawned
//! in the foreground (`bird -f -c CFG -s SOCK [-R]`) with its PID recorded
//! in `<config_path>.rrd.pid`, or adopted from the rrd that ran before.
//!
//! Sits under the engine: the engine decides *when* (first apply, `start`,
//! `stop`); [`rrd_process::Supervisor`] owns the process (restarts with
//! backoff, stop through a pidfd, [`OnDrop`]: left running for the next
//! rrd or stopped with SIGTERM when rrd exits). This module keeps what is
//! BIRD's: its command line, its output, which goes to `tracing` (by BIRD
//! log class) and to a short buffer quoted in start-up errors, and the
//! check that a daemon found on the socket is the one rrd left.

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::error::BirdError;
pub(crate) use rrd_process::OnDrop;
use rrd_process::{
    self as track, AdoptError, PidFile, Pidfd, SpawnError, StopError, Supervisor, SupervisorOptions,
};

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The daemon's output: its recent lines, and the tasks reading it.
#[derive(Debug, Default)]
struct Output {
    tail: Mutex<VecDeque<String>>,
    forwarders: Mutex<Vec<JoinHandle<()>>>,
}

impl Output {
    fn forward(
        self: &Arc<Output>,
        name: &'static str,
        stream: impl AsyncRead + Unpin + Send + 'static,
    ) {
        let task = tokio::spawn(forward_output(name, stream, self.clone()));
        let mut tasks = lock(&self.forwarders);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

/// BIRD as rrd runs it: [`rrd_process::Daemon`] for the supervisor.
#[derive(Debug)]
struct Bird {
    spec: DaemonSpec,
    /// The first start is a graceful-restart recovery (`-R`); restarts
    /// after a crash are normal starts.
    restarting: bool,
    output: Arc<Output>,
}

impl rrd_process::Daemon for Bird {
    fn command(&self, restart: bool) -> Result<Command, SpawnError> {
        let spec = &self.spec;
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("-f")
            .arg("-c")
            .arg(&spec.config)
            .arg("-s")
            .arg(&spec.socket);
        if self.restarting && !restart {
            cmd.arg("-R");
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        Ok(cmd)
    }

    fn started(&self, pid: u32, child: &mut Child, restart: bool) {
        let restarting = self.restarting && !restart;
        let name = self.spec.name;
        tracing::info!(daemon = name, pid, restarting, config = %self.spec.config.display(), "started BIRD");
        if let Some(out) = child.stdout.take() {
            self.output.forward(name, out);
        }
        if let Some(err) = child.stderr.take() {
            self.output.forward(name, err);
        }
    }
}

fn options(name: &'static str, on_drop: OnDrop) -> SupervisorOptions {
    SupervisorOptions {
        name,
        backoff_start: FIRST_BACKOFF,
        backoff_max: MAX_BACKOFF,
        healthy_after: STABLE_RUN,
        term_grace: DROP_GRACE,
        on_drop,
    }
}

/// A supervised daemon.
#[derive(Debug)]
pub struct Supervised {
    inner: Supervisor<Bird>,
}

impl Supervised {
    /// How often the supervisor restarted BIRD after it died.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts()
    }

    /// Start the daemon now (`restarting` adds `-R`: graceful-restart
    /// recovery) and supervise it. Restarts after a crash are normal starts.
    pub fn spawn(
        spec: DaemonSpec,
        restarting: bool,
        pidfile: &PidFile,
        on_drop: OnDrop,
    ) -> Result<Supervised, BirdError> {
        let options = options(spec.name, on_drop);
        let bird = Bird {
            spec,
            restarting,
            output: Arc::default(),
        };
        let inner = Supervisor::spawn(bird, options, pidfile)?;
        Ok(Supervised { inner })
    }

    /// The live process `pidfile` names, when it runs `spec`'s
    /// configuration: the daemon rrd manages, even if its socket is gone.
    /// Spawning beside it would start a second BIRD on the same files.
    pub fn unreachable_sibling(spec: &DaemonSpec, pidfile: &PidFile) -> Option<u32> {
        let pid = pidfile.read()?;
        let args = track::cmdline(pid)?;
        (track::arg_after(&args, "-c").map(PathBuf::from) == Some(spec.config.clone()))
            .then_some(pid)
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
        let ours = |args: &[String]| {
            let files = (
                track::arg_after(args, "-c").map(PathBuf::from),
                track::arg_after(args, "-s").map(PathBuf::from),
            );
            files == (Some(spec.config.clone()), Some(spec.socket.clone()))
        };
        let pidfd = Pidfd::open_checked(holder, ours).map_err(|e| match e {
            AdoptError::Track { pid, source } => BirdError::Track { pid, source },
            AdoptError::NotOurs { args, .. } => refuse(format!(
                "pid {holder} runs {:?}, not {} -c {} -s {}",
                args.join(" "),
                spec.binary.display(),
                spec.config.display(),
                spec.socket.display()
            )),
        })?;
        tracing::info!(daemon = spec.name, pid = holder, config = %spec.config.display(), "adopted the running BIRD (left by a previous rrd); its sessions stay up");
        let options = options(spec.name, on_drop);
        let bird = Bird {
            spec,
            restarting: false,
            output: Arc::default(),
        };
        forward_adopted_output(bird.spec.name, holder, &bird.output);
        let inner = Supervisor::adopt(bird, options, pidfd, pidfile);
        Ok(Supervised { inner })
    }

    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// How the last run ended (`exit status: 1`), if one ended.
    pub fn last_exit(&self) -> Option<String> {
        self.inner.last_exit()
    }

    /// The daemon's recent output, one line each.
    pub fn output_tail(&self) -> String {
        lock(&self.inner.daemon().output.tail)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop supervising and end the process: send `signal` (or nothing,
    /// when the caller already asked the daemon to exit, e.g. `graceful
    /// restart` over the socket), wait up to `grace`, then SIGKILL.
    pub async fn stop(mut self, signal: Option<Signal>, grace: Duration) -> Result<(), BirdError> {
        self.inner.stop(signal, grace).await.map_err(|e| match e {
            StopError::StillRunning { waited, .. } => BirdError::Stop {
                binary: self.inner.daemon().spec.binary.clone(),
                detail: format!("still running {waited:?} after SIGKILL"),
            },
        })
    }

    /// Mark the coming exit as deliberate (before asking the daemon to exit
    /// over its socket).
    pub fn expect_exit(&self) {
        self.inner.expect_exit();
    }
}

impl Drop for Supervised {
    /// Stop reading the output (the next rrd reads it); then the
    /// supervisor leaves or stops the daemon ([`OnDrop`]).
    fn drop(&mut self) {
        for f in lock(&self.inner.daemon().output.forwarders).drain(..) {
            f.abort();
        }
    }
}

/// Read an adopted daemon's output again: its stdout/stderr are the pipes
/// the previous rrd read; `/proc/PID/fd/N` opens their read side anew.
/// (Lines written while no rrd ran are lost: BIRD ignores SIGPIPE.)
fn forward_adopted_output(name: &'static str, pid: u32, output: &Arc<Output>) {
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
            Ok(rx) => output.forward(name, rx),
            Err(e) => {
                tracing::warn!(daemon = name, pid, fd, error = %e, "cannot read the adopted BIRD's output; its log is not forwarded until it restarts");
            }
        }
    }
}

async fn forward_output(name: &'static str, stream: impl AsyncRead + Unpin, output: Arc<Output>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        // BIRD's log lines carry their class: `<ERR>`, `<WARN>`, `<INFO>`...
        // Every exit, ordered ones too, ends with `<FATAL> Shutdown completed`.
        let exit = line.ends_with("<FATAL> Shutdown completed");
        if exit {
            tracing::info!(daemon = name, "{line}");
        } else if line.contains("<ERR>") || line.contains("<BUG>") || line.contains("<FATAL>") {
            tracing::error!(daemon = name, "{line}");
        } else if line.contains("<WARN>") || line.contains("<AUTH>") {
            tracing::warn!(daemon = name, "{line}");
        } else {
            tracing::info!(daemon = name, "{line}");
        }
        let mut tail = lock(&output.tail);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
