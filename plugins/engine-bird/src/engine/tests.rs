//! Apply paths against a scripted fake daemon: what is sent for one change
//! (one `configure` of the staged file), a refusal, `0004` with polling,
//! BIRD 1.6's two daemons changed both or neither, what the engine keeps
//! between applies, and a daemon of the wrong release.

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

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| f.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rrd-tmp"))
        .collect()
}

/// The path in `configure "PATH"` / `configure check "PATH"`.
fn quoted(command: &str) -> PathBuf {
    PathBuf::from(command.split('"').nth(1).unwrap_or_default())
}

fn accepting() -> Responder {
    Arc::new(|cmd: &str, _| {
        if cmd.starts_with("configure") {
            "0002-Reading configuration\n0003 Reconfigured\n".into()
        } else {
            "9001 syntax error\n".into()
        }
    })
}

#[tokio::test]
async fn a_file_refused_by_configure_is_kept_aside_and_the_live_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let live = e.config().config_path.clone();
    std::fs::write(&live, "# the previous configuration\n").unwrap();
    let respond: Responder = Arc::new(|cmd: &str, _| {
        let file = quoted(cmd);
        format!(
            "0002-Reading configuration from {0}\n8002 {0}:3:14 syntax error\n",
            file.display()
        )
    });
    let fake = FakeBird::start(&e.config().socket, "BIRD 2.0.12 ready.", respond);
    let mut e = e;
    let desired = seed();
    let err = e.apply(&desired, &plan(&desired, None)).await.unwrap_err();
    let kept = format!("{}.rrd-rejected", live.display());
    assert!(
        matches!(err, EngineError::Rejected { ref reason, .. } if reason.contains(&format!("{kept}:3:14 syntax error"))),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        "# the previous configuration\n"
    );
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        e.render_files(&desired).unwrap()[0].1
    );
    assert_eq!(e.held().await.unwrap(), None);
    // One parse: BIRD was asked to load the staged file, nothing else.
    let cmds = fake.commands();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert!(cmds[0].starts_with("configure \""), "{cmds:?}");
    assert_eq!(quoted(&cmds[0]).parent(), Some(dir.path()));
    assert_ne!(quoted(&cmds[0]), live);
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn one_change_is_one_configure_of_the_staged_file_then_the_rename() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let live = e.config().config_path.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let live_at_configure = live.clone();
    // Records, for each `configure`, whether the live file existed then.
    let respond: Responder = Arc::new(move |cmd: &str, _| {
        log.lock().unwrap().push(live_at_configure.exists());
        if cmd.starts_with("configure") {
            "0002-Reading configuration\n0003 Reconfigured\n".into()
        } else {
            "9001 syntax error\n".into()
        }
    });
    let fake = FakeBird::start(&e.config().socket, "BIRD 2.0.12 ready.", respond);
    let a = seed();
    e.apply(&a, &plan(&a, None)).await.unwrap();
    let mut b = a.clone();
    b.neighbors.pop_first();
    e.apply(&b, &plan(&b, Some(&a))).await.unwrap();
    let cmds = fake.commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    for c in &cmds {
        assert!(c.starts_with("configure \""), "{cmds:?}");
        assert_ne!(
            quoted(c),
            live,
            "the staged file is loaded, not the live one"
        );
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![false, true],
        "the live file appears only after BIRD loaded it"
    );
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        e.render_files(&b).unwrap()[0].1
    );
    assert_eq!(e.held().await.unwrap(), Some(b));
    e.records.flush();
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn between_applies_the_engine_trusts_its_own_files_until_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let live = e.config().config_path.clone();
    let record = e.config().sidecar_path();
    let fake = FakeBird::start(&e.config().socket, "BIRD 2.0.12 ready.", accepting());
    let a = seed();
    e.apply(&a, &plan(&a, None)).await.unwrap();
    e.records.flush();
    assert_eq!(files::read_record(&record), Some(a.clone()));
    // Not read back while the live file is the one the engine wrote.
    std::fs::write(&record, "{not json").unwrap();
    assert_eq!(e.held().await.unwrap(), Some(a.clone()));
    let report = e.apply(&a, &plan(&a, Some(&a))).await.unwrap();
    assert!(!report.changed);
    assert_eq!(fake.commands().len(), 1);
    // An edit of the live file is noticed: nothing is known to be loaded.
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(&live, format!("{text}# edited\n")).unwrap();
    assert_eq!(e.held().await.unwrap(), None);
    let report = e.apply(&a, &plan(&a, None)).await.unwrap();
    assert!(report.changed);
    assert_eq!(fake.commands().len(), 2);
    assert_eq!(std::fs::read_to_string(&live).unwrap(), text);
    drop(e);
    // A new engine reads the record the old one left.
    let mut again = engine(dir.path());
    assert_eq!(again.held().await.unwrap(), Some(a));
}

fn bird16(dir: &Path) -> BirdEngine {
    let mut c = BirdConfig::in_dir(BirdVersion::V1_6, dir);
    c.reconfigure_timeout = Duration::from_secs(5);
    BirdEngine::new(c)
}

#[tokio::test]
async fn bird16_loads_neither_file_when_the_second_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = bird16(dir.path());
    let (v4, v6) = (
        e.config().config_path.clone(),
        e.config().config_path_v6.clone(),
    );
    let bird = FakeBird::start(&e.config().socket, "BIRD 1.6.8 ready.", accepting());
    let refusing: Responder =
        Arc::new(|cmd: &str, _| format!("8002 {}:2:1 syntax error\n", quoted(cmd).display()));
    let bird6 = FakeBird::start(&e.config().socket_v6, "BIRD 1.6.8 ready.", refusing);
    let desired = seed();
    let err = e.apply(&desired, &plan(&desired, None)).await.unwrap_err();
    assert!(matches!(err, EngineError::Rejected { .. }), "{err}");
    assert!(bird.commands().is_empty(), "{:?}", bird.commands());
    let cmds6 = bird6.commands();
    assert_eq!(cmds6.len(), 1, "{cmds6:?}");
    assert!(cmds6[0].starts_with("configure check \""), "{cmds6:?}");
    assert!(!v4.exists() && !v6.exists());
    assert!(PathBuf::from(format!("{}.rrd-rejected", v6.display())).exists());
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn bird16_checks_the_second_file_before_loading_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = bird16(dir.path());
    let bird = FakeBird::start(&e.config().socket, "BIRD 1.6.8 ready.", accepting());
    let bird6 = FakeBird::start(&e.config().socket_v6, "BIRD 1.6.8 ready.", accepting());
    let desired = seed();
    e.apply(&desired, &plan(&desired, None)).await.unwrap();
    let (cmds, cmds6) = (bird.commands(), bird6.commands());
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert!(cmds[0].starts_with("configure \""), "{cmds:?}");
    assert_eq!(cmds6.len(), 2, "{cmds6:?}");
    assert!(cmds6[0].starts_with("configure check \""), "{cmds6:?}");
    assert!(cmds6[1].starts_with("configure \""), "{cmds6:?}");
    assert_eq!(e.held().await.unwrap(), Some(desired));
}

#[tokio::test]
async fn reconfiguration_in_progress_is_polled_until_bird_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    let respond: Responder = Arc::new(|cmd: &str, n| match cmd {
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
        4
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
