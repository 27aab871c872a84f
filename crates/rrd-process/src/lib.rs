//! rrd-process: how an engine that manages its daemon (BIRD, gobgpd) knows
//! that daemon across rrd restarts — a PID file that the managing rrd keeps
//! locked, and a pidfd for the process itself.
//!
//! Shared by the engines' supervisors: when rrd starts a daemon it writes
//! the PID (BIRD: `<config_path>.rrd.pid` — BIRD's own `-P` file is deleted
//! on a clean exit and cannot carry rrd's lock; gobgpd: `<state_dir>/gobgpd.pid`);
//! the next rrd reads it back to adopt the daemon instead of starting a
//! second one. The file is `flock`ed for as long as an engine manages the
//! daemon, so two rrds never supervise one daemon. A pidfd (Linux >= 5.3)
//! signals exactly the process that was checked, never a recycled PID, and
//! tells when a daemon that is not rrd's child exits.
//!
//! [`record`] keeps what an engine writes beside its daemon (the record of
//! the last applied configuration) for the next rrd.
//!
//! [`Supervisor`] (module `supervisor`) runs one such daemon on top of these:
//! spawn or adopt, restart with backoff, stop, leave running on drop. The
//! engines keep only what is daemon-specific (command line, output,
//! adoption check).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags};

pub mod record;
mod supervisor;

pub use supervisor::{Daemon, OnDrop, SpawnError, StopError, Supervisor, SupervisorOptions};

/// How often [`Pidfd::exited`] looks. A daemon that dies is restarted after
/// a backoff of a second or more, so this adds little.
const EXIT_POLL: Duration = Duration::from_millis(200);

/// Why a PID file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process (another rrd) holds the lock.
    #[error("{} is locked by another process", path.display())]
    Locked { path: PathBuf },
}

/// Why a running process is not taken over.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("cannot track pid {pid} with a pidfd (Linux >= 5.3 needed): {source}")]
    Track {
        pid: u32,
        #[source]
        source: io::Error,
    },
    /// It runs something else (`args`, empty when unreadable), or is gone.
    #[error("pid {pid} runs {:?}", args.join(" "))]
    NotOurs { pid: u32, args: Vec<String> },
}

/// A PID file, locked by this process while the value lives.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: Flock<File>,
}

impl PidFile {
    /// Open (create) and lock `path`; [`PidFileError::Locked`] when another
    /// process manages the daemon. The lock goes with the value, or with
    /// the process, however it ends.
    pub fn lock(path: &Path) -> Result<PidFile, PidFileError> {
        let open_err = |source| PidFileError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(open_err)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(open_err)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => Ok(PidFile {
                path: path.to_owned(),
                file,
            }),
            Err((_, Errno::EWOULDBLOCK)) => Err(PidFileError::Locked {
                path: path.to_owned(),
            }),
            Err((_, e)) => Err(open_err(io::Error::from(e))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded PID; `None` when the file is empty or unreadable.
    pub fn read(&self) -> Option<u32> {
        let mut buf = [0u8; 32];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// A writer for tasks that outlive their turn: it opens the file anew
    /// for each write and holds no lock, so the lock goes exactly when this
    /// value drops (an aborted task is only dropped later, by the runtime).
    pub fn recorder(&self) -> PidRecorder {
        PidRecorder {
            path: self.path.clone(),
        }
    }
}

/// Writes PIDs into a [`PidFile`] without holding its lock.
#[derive(Clone, Debug)]
pub struct PidRecorder {
    path: PathBuf,
}

impl PidRecorder {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record `pid`, or empty the file (`None`: no daemon runs).
    pub fn write(&self, pid: Option<u32>) -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&self.path)?;
        // Rewritten in place, never renamed: the lock belongs to this inode.
        file.set_len(0)?;
        if let Some(pid) = pid {
            file.write_all_at(format!("{pid}\n").as_bytes(), 0)?;
        }
        Ok(())
    }
}

/// A process held by a pidfd.
#[derive(Debug)]
pub struct Pidfd {
    pid: u32,
    fd: OwnedFd,
}

impl Pidfd {
    /// Open a pidfd for `pid`. It refers to the
    /// process that has this PID now; check it is the expected one (its
    /// command line) and then that it has not [`exited`](Self::has_exited)
    /// since, and the check holds for as long as the pidfd lives.
    pub fn open(pid: u32) -> io::Result<Pidfd> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a PID"))?;
        let fd = pidfd_open(raw, PidfdFlags::empty())?;
        Ok(Pidfd { pid, fd })
    }

    /// Open a pidfd for `pid` if that process runs a command line that
    /// `ours` accepts. The command line is read after the pidfd is open,
    /// and the process is seen running after that: so it is the command
    /// line of the process the pidfd holds, for as long as it lives.
    pub fn open_checked(
        pid: u32,
        ours: impl FnOnce(&[String]) -> bool,
    ) -> Result<Pidfd, AdoptError> {
        let pidfd = Pidfd::open(pid).map_err(|source| AdoptError::Track { pid, source })?;
        let args = cmdline(pid).unwrap_or_default();
        if ours(&args) && !pidfd.has_exited() {
            Ok(pidfd)
        } else {
            Err(AdoptError::NotOurs { pid, args })
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Send `signal` to this process (a no-op error once it is gone).
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let signal = rustix::process::Signal::from_named_raw(signal as i32)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown signal"))?;
        Ok(pidfd_send_signal(&self.fd, signal)?)
    }

    /// Resolves when the process has exited (reaped or not). Polled: the
    /// pidfd turns readable on exit, but tokio's `AsyncFd` constructors
    /// are deprecated in favour of `unsafe` ones, which this crate forbids.
    pub async fn exited(&self) {
        while !self.has_exited() {
            tokio::time::sleep(EXIT_POLL).await;
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.wait_blocking(Duration::ZERO)
    }

    /// Block up to `timeout` for the exit (for `Drop`, where nothing can be
    /// awaited); whether the process is gone.
    pub fn wait_blocking(&self, timeout: Duration) -> bool {
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        loop {
            match poll(&mut fds, Some(&timeout)) {
                Ok(n) => return n > 0,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return true,
            }
        }
    }
}

/// The command line of `pid`, one string per argument (`/proc/PID/cmdline`).
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then_some(args)
}

/// The live process a PID file names, if its command line passes `ours`.
/// Reads without taking the lock: for a look at a daemon that another
/// engine may manage (`rrd run` refuses to start beside the daemon a
/// migration left running for the other engine).
pub fn recorded_process(pid_path: &Path, ours: impl Fn(&[String]) -> bool) -> Option<u32> {
    let text = std::fs::read_to_string(pid_path).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    cmdline(pid).filter(|args| ours(args)).map(|_| pid)
}

/// The CPU time (user + system) `pid` has used so far, from
/// `/proc/<pid>/stat`; `None` when it is gone. A daemon that has not
/// answered yet but whose CPU time still grows is busy (bgpd reads its
/// whole file before it opens its vty socket), not stuck; it is also a
/// count that a busy machine does not inflate, unlike wall time.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_time_of_stat(&stat)
}

fn cpu_time_of_stat(stat: &str) -> Option<Duration> {
    // The command name, in parentheses, may hold spaces and parentheses:
    // the fields after its last `)` are state, ppid, ...; utime and stime
    // are the 12th and 13th of them, in clock ticks.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000) / ticks,
    ))
}

/// The argument after `flag` in `args` (`-c FILE`).
pub fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_adds_user_and_system_ticks_after_a_command_name_with_spaces() {
        let ticks = rustix::param::clock_ticks_per_second();
        let stat =
            "4242 (bgp d) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 3 0 1234 5 6";
        assert_eq!(
            cpu_time_of_stat(stat),
            Some(Duration::from_nanos(200 * 1_000_000_000 / ticks))
        );
        assert_eq!(cpu_time_of_stat("4242 (bgpd) S 1"), None);
        let own = cpu_time(std::process::id()).unwrap();
        let spin = std::time::Instant::now();
        while cpu_time(std::process::id()).unwrap() == own {
            assert!(
                spin.elapsed() < Duration::from_secs(10),
                "own CPU time never grew"
            );
        }
    }

    #[test]
    fn a_pid_file_is_locked_once_and_rewritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/daemon.rrd.pid");
        let first = PidFile::lock(&path).unwrap();
        assert_eq!(first.read(), None);
        first.recorder().write(Some(4242)).unwrap();
        assert_eq!(first.read(), Some(4242));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        assert!(matches!(
            PidFile::lock(&path),
            Err(PidFileError::Locked { .. })
        ));
        first.recorder().write(Some(7)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "7\n");
        assert!(
            matches!(PidFile::lock(&path), Err(PidFileError::Locked { .. })),
            "writing through the recorder keeps the lock"
        );
        first.recorder().write(None).unwrap();
        assert_eq!(first.read(), None);
        let recorder = first.recorder();
        first.recorder().write(Some(99)).unwrap();
        drop(first);
        // The lock goes with the PidFile, whoever still holds a recorder.
        let second = PidFile::lock(&path).unwrap();
        assert_eq!(second.read(), Some(99));
        drop(recorder);
    }

    #[tokio::test]
    async fn a_pidfd_sees_the_exit_of_a_process_it_signalled() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let p = Pidfd::open(pid).unwrap();
        assert!(!p.has_exited());
        // The parent may resume before the new image's argv is in place.
        let mut args = None;
        for _ in 0..100 {
            args = cmdline(pid);
            if args.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let args = args.expect("sleep's command line");
        assert_eq!(arg_after(&args, "sleep"), Some("30"));
        p.signal(Signal::SIGTERM).unwrap();
        tokio::time::timeout(Duration::from_secs(10), p.exited())
            .await
            .expect("exit seen");
        assert!(p.wait_blocking(Duration::from_secs(1)));
        let _ = child.wait().await;
        assert!(
            p.signal(Signal::SIGKILL).is_err(),
            "reaped: nothing to signal"
        );
    }
}
