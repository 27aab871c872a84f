//! A full look that gives way goes on where it stopped: driven against a
//! stand-in for bgpd's vty socket (the protocol of [`crate::vty`]) that
//! records every command of every connection and can stall mid-look, so
//! that the look is dropped at a known point, as the runtime drops a look
//! that gives way to a datastore change.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rrd_core::DaemonState;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::config::FrrConfig;
use crate::engine::{FrrEngine, Running, SocketStamp};
use crate::full_look::WINDOW;
use crate::vty::fake;

/// The stand-in's record and its stall.
#[derive(Default)]
struct Shared {
    /// (connection number, command), in the order bgpd would run them.
    commands: Mutex<Vec<(usize, String)>>,
    /// Neighbor reads answered so far, over all connections.
    neighbor_reads: Mutex<usize>,
    /// Answer this many neighbor reads, then stall until `release`.
    stall_after: Option<usize>,
    stalled: Notify,
    release: Notify,
}

struct FakeBgpd {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeBgpd {
    /// A view `rrd` whose summary shows `peers`, all of them Active.
    fn start(socket_dir: &Path, peers: Vec<IpAddr>, stall_after: Option<usize>) -> FakeBgpd {
        let listener = UnixListener::bind(socket_dir.join("bgpd.vty")).unwrap();
        let shared = Arc::new(Shared {
            stall_after,
            ..Shared::default()
        });
        let s = shared.clone();
        let server = tokio::spawn(async move {
            for connection in 0.. {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, connection, peers.clone(), s.clone()));
            }
        });
        FakeBgpd { shared, server }
    }

    fn commands_of(&self, connection: usize) -> Vec<String> {
        let all = self.shared.commands.lock().unwrap();
        all.iter()
            .filter(|(c, _)| *c == connection)
            .map(|(_, command)| command.clone())
            .collect()
    }
}

impl Drop for FakeBgpd {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One vty connection: NUL-terminated commands, each answered with its
/// text, three NULs and a status byte.
async fn serve(mut stream: UnixStream, connection: usize, peers: Vec<IpAddr>, s: Arc<Shared>) {
    while let Some(command) = fake::next_command(&mut stream).await {
        s.commands
            .lock()
            .unwrap()
            .push((connection, command.clone()));
        let (status, text) = answer(&command, &peers);
        if command.contains(" neighbors ") {
            let answered = {
                let mut n = s.neighbor_reads.lock().unwrap();
                *n += 1;
                *n
            };
            if Some(answered) == s.stall_after.map(|k| k + 1) {
                s.stalled.notify_one();
                s.release.notified().await;
            }
        }
        let mut out = text.into_bytes();
        out.extend(fake::terminator(status));
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// What bgpd 8.4 answers, as far as a look asks.
fn answer(command: &str, peers: &[IpAddr]) -> (u8, String) {
    let neighbor = |a: &IpAddr| {
        json!({
            "remoteAs": 64512,
            "nbrDesc": format!("Node_{a}").replace('.', "_"),
            "bgpState": "Active",
            "lastResetDueTo": "Waiting for peer OPEN",
            "addressFamilyInfo": { "ipv4Unicast": { "routeReflectorClient": true } }
        })
    };
    match command {
        "enable" => (0, String::new()),
        "show version" => (0, "FRRouting 8.4.4 (fake) on Linux.".into()),
        "show bgp view rrd summary json" => {
            let listed: serde_json::Map<String, serde_json::Value> = peers
                .iter()
                .map(|a| (a.to_string(), json!({ "state": "Active" })))
                .collect();
            (0, json!({ "ipv4Unicast": { "peers": listed } }).to_string())
        }
        _ => {
            let asked = command
                .strip_prefix("show bgp view rrd neighbors ")
                .and_then(|rest| rest.strip_suffix(" json"))
                .and_then(|a| a.parse::<IpAddr>().ok());
            match asked {
                Some(a) if peers.contains(&a) => {
                    (0, json!({ a.to_string(): neighbor(&a) }).to_string())
                }
                Some(_) => (0, json!({ "bgpNoSuchNeighbor": true }).to_string()),
                None => (2, "% Unknown command".into()),
            }
        }
    }
}

fn unmanaged(dir: &Path) -> FrrConfig {
    FrrConfig {
        socket_dir: dir.to_owned(),
        state_dir: dir.to_owned(),
        config_path: dir.join("bgpd.conf"),
        set_originator_id: false,
        ..FrrConfig::default()
    }
}

/// Start a full look and drop it at its await once bgpd stalls, as the
/// runtime drops a look that gives way; then let bgpd go on.
async fn give_way_at_the_stall(engine: &mut FrrEngine, fake: &FakeBgpd) {
    tokio::select! {
        r = engine.observe_inner() => panic!("the look ended although bgpd stalled: {r:?}"),
        () = fake.shared.stalled.notified() => {}
    }
    fake.shared.release.notify_one();
}

/// A look over a stand-in bgpd of 40 peers that gave way once bgpd had
/// answered `stall_after` neighbor reads; the lab directory goes with it.
struct GaveWay {
    dir: tempfile::TempDir,
    peers: Vec<IpAddr>,
    fake: FakeBgpd,
    engine: FrrEngine,
}

async fn a_look_that_gave_way(stall_after: usize) -> GaveWay {
    let dir = tempfile::tempdir().unwrap();
    let peers: Vec<IpAddr> = (1..=40).map(|i| IpAddr::from([198, 18, 0, i])).collect();
    let fake = FakeBgpd::start(dir.path(), peers.clone(), Some(stall_after));
    let mut engine = FrrEngine::new(unmanaged(dir.path()));
    give_way_at_the_stall(&mut engine, &fake).await;
    GaveWay {
        dir,
        peers,
        fake,
        engine,
    }
}

fn neighbor_reads(commands: &[String]) -> Vec<IpAddr> {
    commands
        .iter()
        .filter_map(|c| c.strip_prefix("show bgp view rrd neighbors "))
        .filter_map(|rest| rest.strip_suffix(" json")?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_look_dropped_mid_window_goes_on_from_its_last_whole_window() {
    // Stall in the second window: 16 read and kept, 4 more answered.
    let stall_after = WINDOW + 4;
    let GaveWay {
        dir: _dir,
        peers,
        fake,
        mut engine,
    } = a_look_that_gave_way(stall_after).await;
    let first = fake.commands_of(0);
    assert_eq!(first[..2], ["enable", "show bgp view rrd summary json"]);
    assert_eq!(neighbor_reads(&first)[..stall_after], peers[..stall_after]);

    let seen = engine.observe_inner().await.unwrap();
    assert_eq!(seen.daemon, DaemonState::Running);
    assert_eq!(seen.sessions.len(), peers.len());
    let addresses: Vec<IpAddr> = seen.sessions.iter().map(|s| s.address).collect();
    let mut expected = peers.clone();
    expected.sort_by_key(|a| format!("Node_{a}").replace('.', "_"));
    assert_eq!(addresses, expected);

    // The next look went on from the window it had not kept: no new
    // summary (nothing changed), and no peer of the first window read
    // again.
    let second = fake.commands_of(1);
    assert!(
        !second.iter().any(|c| c.contains("summary")),
        "the summary was read again: {second:?}"
    );
    assert_eq!(neighbor_reads(&second), peers[WINDOW..]);

    // That look was complete: the one after it starts over.
    engine.observe_inner().await.unwrap();
    let third = fake.commands_of(2);
    assert!(third.contains(&"show bgp view rrd summary json".to_owned()));
    assert_eq!(neighbor_reads(&third), peers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_dropped_after_a_change_reads_the_summary_again_and_only_new_peers() {
    let GaveWay {
        dir: _dir,
        peers,
        fake,
        mut engine,
    } = a_look_that_gave_way(WINDOW).await;
    // An apply changed bgpd's configuration meanwhile.
    engine.changes += 1;
    let seen = engine.observe_inner().await.unwrap();
    assert_eq!(seen.sessions.len(), peers.len());
    let second = fake.commands_of(1);
    assert!(second.contains(&"show bgp view rrd summary json".to_owned()));
    assert_eq!(neighbor_reads(&second), peers[WINDOW..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_resumed_after_rrds_own_apply_takes_the_peers_from_the_view_it_applied() {
    let GaveWay {
        dir,
        peers,
        fake,
        mut engine,
    } = a_look_that_gave_way(WINDOW).await;
    // rrd's apply removed the last peer; bgpd (the same socket) runs the
    // view it was given.
    let kept = &peers[..peers.len() - 1];
    let view = crate::view::View {
        neighbors: kept
            .iter()
            .map(|a| (*a, crate::view::NeighborLines::default()))
            .collect(),
        ..Default::default()
    };
    engine.running = Some(Running {
        socket: SocketStamp::of(&dir.path().join("bgpd.vty")).unwrap(),
        view: Some(view),
    });
    engine.changes += 1;
    let seen = engine.observe_inner().await.unwrap();
    let second = fake.commands_of(1);
    assert!(
        !second.iter().any(|c| c.contains("summary")),
        "the summary was read again: {second:?}"
    );
    assert_eq!(neighbor_reads(&second), kept[WINDOW..]);
    assert_eq!(seen.sessions.len(), kept.len());
}
