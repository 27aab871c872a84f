//! The supervisor against real processes (`sleep`, `sh`): restarts with
//! backoff, stops, drops, adoption. Every process a test starts is ended
//! through a supervisor (by PID when a test fails half-way).

use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::*;
use crate::{cmdline, Pidfd};

/// A daemon that runs `args`; remembers each start as `(pid, restart)`.
#[derive(Debug)]
struct Fake {
    args: Vec<&'static str>,
    starts: Mutex<Vec<(u32, bool)>>,
}

impl Fake {
    fn new(args: &[&'static str]) -> Fake {
        Fake {
            args: args.to_vec(),
            starts: Mutex::new(Vec::new()),
        }
    }
}

impl Daemon for Fake {
    fn command(&self, _restart: bool) -> Result<Command, SpawnError> {
        let mut cmd = Command::new(self.args[0]);
        cmd.args(&self.args[1..]);
        Ok(cmd)
    }

    fn started(&self, pid: u32, _child: &mut Child, restart: bool) {
        lock(&self.starts).push((pid, restart));
    }
}

fn options(on_drop: OnDrop, backoff: Duration) -> SupervisorOptions {
    SupervisorOptions {
        name: "fake",
        backoff_start: backoff,
        backoff_max: backoff * 4,
        healthy_after: Duration::from_secs(60),
        term_grace: Duration::from_secs(5),
        on_drop,
    }
}

fn running(pid: u32) -> bool {
    Pidfd::open(pid).is_ok_and(|p| !p.has_exited())
}

/// Poll `what` until it holds; panic with `state` after 10 s.
async fn until(what: impl Fn() -> bool, state: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !what() {
        assert!(Instant::now() < deadline, "timed out: {}", state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A locked PID file in a fresh directory (kept while the value lives).
fn pid_file() -> (tempfile::TempDir, PidFile) {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = PidFile::lock(&dir.path().join("fake.pid")).unwrap();
    (dir, pidfile)
}

/// Run `args` under a supervisor that restarts after `backoff`.
fn spawn(
    args: &[&'static str],
    on_drop: OnDrop,
    backoff: Duration,
    pidfile: &PidFile,
) -> Supervisor<Fake> {
    Supervisor::spawn(Fake::new(args), options(on_drop, backoff), pidfile).unwrap()
}

#[tokio::test]
async fn a_daemon_that_dies_is_restarted_and_its_new_pid_recorded() {
    let (_dir, pidfile) = pid_file();
    let mut s = spawn(
        &["sleep", "30"],
        OnDrop::Stop,
        Duration::from_millis(10),
        &pidfile,
    );
    let first = s.pid().unwrap();
    assert_eq!(pidfile.read(), Some(first));
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    until(
        || s.pid().is_some_and(|p| p != first),
        || format!("{:?} {:?}", s.pid(), s.last_exit()),
    )
    .await;
    let second = s.pid().unwrap();
    assert_eq!(s.restarts(), 1);
    assert_eq!(pidfile.read(), Some(second));
    assert_eq!(
        *lock(&s.daemon().starts),
        vec![(first, false), (second, true)]
    );
    s.stop(Some(Signal::SIGTERM), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!running(second));
    assert_eq!(pidfile.read(), None, "stopped: the PID file names nothing");
    assert!(
        s.last_exit().unwrap().contains("signal"),
        "{:?}",
        s.last_exit()
    );
}

#[tokio::test]
async fn a_stop_during_the_backoff_starts_nothing() {
    let (_dir, pidfile) = pid_file();
    let mut s = spawn(
        &["sh", "-c", "exit 3"],
        OnDrop::Stop,
        Duration::from_secs(30),
        &pidfile,
    );
    until(|| s.pid().is_none(), || format!("{:?}", s.pid())).await;
    assert_eq!(s.last_exit().as_deref(), Some("exit status: 3"));
    s.stop(Some(Signal::SIGTERM), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(pidfile.read(), None);
    assert_eq!(lock(&s.daemon().starts).len(), 1);
}

#[tokio::test]
async fn an_expected_exit_is_not_restarted_and_an_unanswered_stop_kills() {
    let (_dir, pidfile) = pid_file();
    let mut s = spawn(
        &["sh", "-c", "sleep 0.2"],
        OnDrop::Stop,
        Duration::from_millis(10),
        &pidfile,
    );
    s.expect_exit();
    until(|| s.last_exit().is_some(), || format!("{:?}", s.pid())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!((s.pid(), s.restarts()), (None, 0));
    s.stop(None, Duration::from_secs(1)).await.unwrap();

    // No signal and no exit within the grace: SIGKILL.
    let mut s = spawn(
        &["sleep", "30"],
        OnDrop::Stop,
        Duration::from_millis(10),
        &pidfile,
    );
    let pid = s.pid().unwrap();
    s.stop(None, Duration::from_millis(100)).await.unwrap();
    assert!(!running(pid));
    assert!(
        s.last_exit().unwrap().contains("signal: 9"),
        "{:?}",
        s.last_exit()
    );
}

#[tokio::test]
async fn a_daemon_left_on_drop_is_adopted_and_one_stopped_on_drop_is_gone() {
    let (_dir, pidfile) = pid_file();
    let args = ["sleep", "31"];
    let left = spawn(&args, OnDrop::Leave, Duration::from_millis(10), &pidfile);
    let pid = left.pid().unwrap();
    drop(left);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(running(pid), "left running");
    assert_eq!(pidfile.read(), Some(pid));

    let ours = |a: &[String]| a.len() == 2 && a[0] == "sleep" && a[1] == "31";
    assert!(matches!(
        Pidfd::open_checked(pid, |a| a.first().map(String::as_str) == Some("bird")),
        Err(crate::AdoptError::NotOurs { .. })
    ));
    let pidfd = Pidfd::open_checked(pid, ours).unwrap_or_else(|e| {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        panic!("{e}: {:?}", cmdline(pid))
    });
    let adopted = Supervisor::adopt(
        Fake::new(&args),
        options(OnDrop::Stop, Duration::from_millis(10)),
        pidfd,
        &pidfile,
    );
    assert_eq!(adopted.pid(), Some(pid));
    drop(adopted);
    assert!(!running(pid), "stopped on drop");
    assert_eq!(pidfile.read(), None);
}
