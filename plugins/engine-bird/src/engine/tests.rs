//! Apply paths that a healthy BIRD rarely takes, against a scripted fake
//! daemon: `configure` refusing a file that passed the check, `0004` with
//! polling, and a daemon of the wrong release.

use std::sync::{Arc, Mutex};

use rrd_core::testing::fixtures;
use rrd_core::{compute, plan, RrIdentity};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use super::*;

type Responder = Arc<dyn Fn(&str, usize) -> String + Send + Sync>;

/// Accepts any number of connections; greets with `greeting`; answers each
/// command with `respond(command, nth command overall)`.
struct FakeBird {
    commands: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeBird {
    fn start(socket: &Path, greeting: &'static str, respond: Responder) -> FakeBird {
        let listener = UnixListener::bind(socket).unwrap();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let log = commands.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let respond = respond.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    if w.write_all(format!("0001 {greeting}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut line = String::new();
                    while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                        let cmd = line.trim_end().to_owned();
                        let n = {
                            let mut l = log.lock().unwrap();
                            l.push(cmd.clone());
                            l.len() - 1
                        };
                        let reply = respond(&cmd, n);
                        if w.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        FakeBird { commands, task }
    }

    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

impl Drop for FakeBird {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn seed() -> RrConfig {
    compute(
        &fixtures::seed(),
        &RrIdentity::v4("172.17.42.40".parse().unwrap()),
    )
    .unwrap()
    .config
}

fn engine(dir: &Path) -> BirdEngine {
    let mut c = BirdConfig::in_dir(BirdVersion::V2, dir);
    c.reconfigure_timeout = Duration::from_secs(5);
    BirdEngine::new(c)
}

#[tokio::test]
async fn a_file_refused_by_configure_is_replaced_by_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let live = e.config().config_path.clone();
    std::fs::write(&live, "# the previous configuration\n").unwrap();
    let respond: Responder = Arc::new(|cmd: &str, _| {
        if cmd.starts_with("configure check") {
            "0002-Reading configuration\n0020 Configuration OK\n".into()
        } else {
            "0002-Reading configuration\n8002 bird.conf:3:14 syntax error\n".into()
        }
    });
    let fake = FakeBird::start(&e.config().socket, "BIRD 2.0.12 ready.", respond);
    let mut e = e;
    let desired = seed();
    let err = e.apply(&desired, &plan(&desired, None)).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Rejected { ref reason, .. } if reason.contains("3:14 syntax error")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        "# the previous configuration\n"
    );
    assert_eq!(e.held().await.unwrap(), None);
    let cmds = fake.commands();
    assert!(cmds[0].starts_with("configure check \""), "{cmds:?}");
    assert_eq!(cmds[1], format!("configure \"{}\"", live.display()));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|f| f.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rrd-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn reconfiguration_in_progress_is_polled_until_bird_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let respond: Responder = Arc::new(|cmd: &str, n| match cmd {
        c if c.starts_with("configure check") => "0020 Configuration OK\n".into(),
        c if c.starts_with("configure") => {
            "0002-Reading configuration\n0004 Reconfiguration in progress\n".into()
        }
        "show status" if n < 4 => "1000-BIRD 2.0.12\n0013 Reconfiguration in progress\n".into(),
        "show status" => "1000-BIRD 2.0.12\n0013 Daemon is up and running\n".into(),
        _ => "9001 syntax error\n".into(),
    });
    let fake = FakeBird::start(&e.config().socket.clone(), "BIRD 2.0.12 ready.", respond);
    let desired = seed();
    let report = e.apply(&desired, &plan(&desired, None)).await.unwrap();
    assert!(report.changed);
    assert!(
        report
            .operations
            .iter()
            .any(|o| o.contains("reconfiguration finished")),
        "{report:?}"
    );
    assert_eq!(
        fake.commands()
            .iter()
            .filter(|c| *c == "show status")
            .count(),
        3
    );
    assert_eq!(e.held().await.unwrap(), Some(desired.clone()));
    // Identical again: not even a connection.
    let before = fake.commands().len();
    let report = e
        .apply(&desired, &plan(&desired, Some(&desired)))
        .await
        .unwrap();
    assert!(!report.changed);
    assert_eq!(fake.commands().len(), before);
}

#[tokio::test]
async fn a_daemon_of_the_other_release_is_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let respond: Responder = Arc::new(|_: &str, _| "0020 Configuration OK\n".into());
    let fake = FakeBird::start(&e.config().socket.clone(), "BIRD 1.6.8 ready.", respond);
    let desired = seed();
    let err = e.apply(&desired, &plan(&desired, None)).await.unwrap_err();
    assert!(matches!(err, EngineError::Unsupported { .. }), "{err}");
    assert!(!e.config().config_path.exists());
    assert!(fake.commands().is_empty());
}
