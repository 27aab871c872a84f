//! The client against a scripted fake daemon speaking the literal replies
//! captured from BIRD 2.0.12 and 1.6.8 (the protocol: plugins/engine-bird/README.md).

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use super::*;

/// A fake daemon: greets, then for each scripted command reads one line and
/// writes the canned reply. Returns the commands it received.
struct FakeBird {
    _dir: tempfile::TempDir,
    path: PathBuf,
    task: JoinHandle<Vec<String>>,
}

impl FakeBird {
    fn start(greeting: &'static str, script: Vec<&'static str>) -> FakeBird {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            w.write_all(greeting.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            for reply in script {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                seen.push(line.trim_end().to_owned());
                w.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        FakeBird {
            _dir: dir,
            path,
            task,
        }
    }
}

const HELLO2: &str = "0001 BIRD 2.0.12 ready.\n";
const HELLO16: &str = "0001 BIRD 1.6.8 ready.\n";

#[tokio::test]
async fn greeting_gives_the_daemon_version_for_both_releases() {
    for (hello, version) in [(HELLO2, "2.0.12"), (HELLO16, "1.6.8")] {
        let fake = FakeBird::start(hello, vec![]);
        let s = BirdSocket::connect(&fake.path).await.unwrap();
        assert_eq!(s.version(), Some(version));
        assert_eq!(s.greeting(), format!("BIRD {version} ready."));
        // The fake daemon is this process: the kernel names it.
        assert_eq!(s.peer_pid(), Some(std::process::id()));
    }
}

#[tokio::test]
async fn configure_replies_are_classified_by_their_final_code() {
    let fake = FakeBird::start(
        HELLO2,
        vec![
            "0002-Reading configuration from rr-bird2.conf\n0020 Configuration OK\n",
            "0002-Reading configuration from /nonexistent.conf\n8002 /nonexistent.conf: No such file or directory\n",
            "0002-Reading configuration from rr-bird2.conf\n0004 Reconfiguration in progress\n",
            "0002-Reading configuration from g.conf\n0022-Undo scheduled in 30 s\n0003 Reconfigured\n",
        ],
    );
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let ok = s.command("configure check").await.unwrap();
    assert_eq!(
        (ok.code, ok.class(), ok.is_error()),
        (20, ReplyClass::Ok, false)
    );
    assert_eq!(
        ok.texts(2).collect::<Vec<_>>(),
        ["Reading configuration from rr-bird2.conf"]
    );
    let bad = s
        .command("configure check \"/nonexistent.conf\"")
        .await
        .unwrap();
    assert_eq!((bad.code, bad.class()), (8002, ReplyClass::RuntimeError));
    assert!(bad.is_error());
    assert_eq!(
        bad.message(),
        "/nonexistent.conf: No such file or directory"
    );
    let progress = s.command("configure").await.unwrap();
    assert_eq!(progress.summary(), "0004 Reconfiguration in progress");
    let undo = s.command("configure timeout 30").await.unwrap();
    assert_eq!(undo.code, 3);
    assert_eq!(undo.lines.len(), 3);
    assert_eq!(
        fake.task.await.unwrap(),
        [
            "configure check",
            "configure check \"/nonexistent.conf\"",
            "configure",
            "configure timeout 30"
        ]
    );
}

#[tokio::test]
async fn bird16_syntax_errors_and_parse_errors_are_errors() {
    let fake = FakeBird::start(
        HELLO16,
        vec![
            "0002-Reading configuration from a-bad.conf\n8002 a-bad.conf:17:38 syntax error\n",
            "9001 syntax error\n",
            "8001 Network not in table\n",
        ],
    );
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let r = s.command("configure \"a-bad.conf\"").await.unwrap();
    assert_eq!(
        (r.code, r.message()),
        (8002, "a-bad.conf:17:38 syntax error")
    );
    let r = s.command("show foo").await.unwrap();
    assert_eq!((r.code, r.class()), (9001, ReplyClass::ParseError));
    let r = s.command("show route 10.99.0.0/24").await.unwrap();
    assert_eq!(r.class(), ReplyClass::RuntimeError);
}

#[tokio::test]
async fn continuation_lines_keep_the_code_of_the_line_above() {
    let fake = FakeBird::start(
        HELLO2,
        vec![concat!(
            "2002-Name       Proto      Table      State  Since         Info\n",
            "1002-device1    Device     ---        up     20:06:49.086  \n",
            " c_a        BGP        ---        up     20:06:53.100  Established   \n",
            " c_b        BGP        ---        start  20:08:37.146  Active        Socket: Connection refused\n",
            "0000 \n",
        )],
    );
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let r = s.command("show protocols").await.unwrap();
    assert_eq!(r.code, 0);
    assert_eq!(r.message(), "");
    let rows: Vec<&str> = r.texts(1002).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[1].starts_with("c_a        BGP"), "{rows:?}");
    assert!(rows[2].ends_with("Socket: Connection refused"));
    assert_eq!(r.texts(2002).count(), 1);
}

#[tokio::test]
async fn status_report_and_graceful_restart_replies_parse() {
    let fake = FakeBird::start(
        HELLO2,
        vec![
            concat!(
                "1000-BIRD 2.0.12\n",
                "1011-Router ID is 10.0.0.1\n",
                " Hostname is vm\n",
                " Current server time is 2024-01-01 20:00:00.000\n",
                "0013 Daemon is up and running\n",
            ),
            "0025 Graceful restart requested\n",
        ],
    );
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let r = s.command("show status").await.unwrap();
    assert_eq!(r.texts(1000).collect::<Vec<_>>(), ["BIRD 2.0.12"]);
    assert_eq!(r.texts(1011).count(), 3);
    assert_eq!(r.summary(), "0013 Daemon is up and running");
    let r = s.command("graceful restart").await.unwrap();
    assert_eq!(r.code, 25);
}

#[tokio::test]
async fn asynchronous_plus_lines_are_skipped() {
    let fake = FakeBird::start(
        HELLO2,
        vec!["+0007 Shutdown ordered\n1000-BIRD 2.0.12\n+something async\n0013 Daemon is up and running\n"],
    );
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let r = s.command("show status").await.unwrap();
    assert_eq!(
        r.lines,
        [
            (1000, "BIRD 2.0.12".to_owned()),
            (13, "Daemon is up and running".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_silent_daemon_times_out_and_a_vanishing_one_is_reported() {
    let fake = FakeBird::start(HELLO2, vec!["1000-BIRD 2.0.12\n"]);
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    s.set_timeout(Duration::from_millis(200));
    // The fake writes a partial reply, then closes: the client must not
    // take the partial reply for a complete one.
    match s.command("show status").await {
        Err(SocketError::Closed { .. }) | Err(SocketError::Timeout { .. }) => {}
        other => panic!("expected Closed or Timeout, got {other:?}"),
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mute.ctl");
    let listener = UnixListener::bind(&path).unwrap();
    let keep = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(stream);
    });
    let started = tokio::time::Instant::now();
    let connect = tokio::time::timeout(Duration::from_secs(2), async {
        let stream = UnixStream::connect(&path).await.unwrap();
        let (r, w) = stream.into_split();
        let mut s = BirdSocket {
            path: path.clone(),
            reader: BufReader::new(r),
            writer: w,
            greeting: String::new(),
            timeout: Duration::from_millis(100),
            peer_pid: None,
        };
        s.command("show status").await
    })
    .await
    .expect("the client's own timeout must fire first");
    assert!(
        matches!(connect, Err(SocketError::Timeout { .. })),
        "{connect:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    keep.abort();
}

#[tokio::test]
async fn absent_socket_wrong_greeting_and_multiline_commands_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = BirdSocket::connect(&dir.path().join("none.ctl"))
        .await
        .unwrap_err();
    assert!(matches!(e, SocketError::Connect { .. }), "{e}");

    let fake = FakeBird::start("9999 go away\n", vec![]);
    let e = BirdSocket::connect(&fake.path).await.unwrap_err();
    assert!(matches!(e, SocketError::Greeting { .. }), "{e}");

    let fake = FakeBird::start(HELLO2, vec![]);
    let mut s = BirdSocket::connect(&fake.path).await.unwrap();
    let e = s.command("configure\nshow status").await.unwrap_err();
    assert!(matches!(e, SocketError::Multiline(_)), "{e}");
}

#[test]
fn line_classification_follows_the_protocol() {
    assert_eq!(
        classify("0001 BIRD 2.0.12 ready."),
        Line::Numbered {
            code: 1,
            last: true,
            text: "BIRD 2.0.12 ready.".into()
        }
    );
    assert_eq!(
        classify("1006-  BGP state:          Established"),
        Line::Numbered {
            code: 1006,
            last: false,
            text: "  BGP state:          Established".into()
        }
    );
    assert_eq!(
        classify("0000 "),
        Line::Numbered {
            code: 0,
            last: true,
            text: String::new()
        }
    );
    assert_eq!(
        classify("     Neighbor AS:      65000"),
        Line::Continuation("    Neighbor AS:      65000".into())
    );
    assert_eq!(classify(" "), Line::Continuation(String::new()));
    assert_eq!(classify("+0007 x"), Line::Async);
}
