//! Scenario: watching rrd as an operator does, with real BIRD (issue 10).
//!
//! RR 198.51.100.10 (BIRD 2, started by the lab as a service manager would,
//! rrd driving it from a topology file), clients 198.51.100.21..23 (BIRD
//! 1.6, Calico-like). Checked:
//! * `/metrics` of the live `rrd run` passes `promtool check metrics` and
//!   an independent Prometheus text parser, with per-peer series for every
//!   client (up, one-hot state, prefixes received/sent, flaps, time in
//!   state);
//! * nothing mutating on the scrape port: `POST /apply` there is refused,
//!   `rrd apply` and `rrd status` go through the admin socket;
//! * drift: a BGP protocol added to bird.conf by hand and loaded with
//!   `birdc configure` is reported (status, metric, log) at once and
//!   removed again by rrd after the resync interval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rrd_lab::calico_client::{birdc, CalicoClient};
use rrd_lab::route_reflector::{tail, RouteReflectorHost, RrDaemon, RRD_HTTP};
use rrd_lab::topology::LegacyTopology;
use rrd_lab::{bins, poll, Lab};

const ASN: u32 = 64512;
const SETTLE: Duration = Duration::from_secs(60);
const RESYNC: Duration = Duration::from_secs(8);

/// Fields drop in order: clients and the RR first, the lab last.
struct Scenario {
    clients: Vec<CalicoClient>,
    rr: RouteReflectorHost,
    admin_socket: PathBuf,
    _lab: Lab,
}

impl Scenario {
    fn start(tag: &str) -> Scenario {
        let mut lab = Lab::new(tag);
        let host = lab.add_host("rr", 10);
        let topology_path = lab.path("topology.toml");
        let mut topology = LegacyTopology::new(ASN);
        topology
            .route_reflectors
            .push((host.ipv4, Some("1.0.0.1".into())));
        topology.global_peers.push(host.ipv4);
        let client_hosts: Vec<_> = (21..24)
            .map(|i| lab.add_host(&format!("c{i}"), i))
            .collect();
        for h in &client_hosts {
            topology.nodes.push((h.name.clone(), h.ipv4));
        }
        topology.write(&topology_path);
        let mut rr = RouteReflectorHost::new(
            &lab,
            &host,
            RrDaemon::Bird2,
            &topology_path,
            Path::new(env!("CARGO_BIN_EXE_rrd")),
            &format!(
                "[runtime]\nobserve_interval = \"500ms\"\ncounts_interval = \"1s\"\nresync_interval = \"{}s\"\n",
                RESYNC.as_secs()
            ),
        );
        rr.start_rrd();
        rr.wait_ready(Duration::from_secs(30));
        let clients = client_hosts
            .iter()
            .map(|h| CalicoClient::start(&lab, h, ASN, &[host.ipv4]))
            .collect();
        let admin_socket = lab.path("rr-rrd.sock");
        Scenario {
            clients,
            rr,
            admin_socket,
            _lab: lab,
        }
    }

    /// Every client holds every other client's block.
    fn wait_for_reflection(&self) {
        let blocks: Vec<String> = self.clients.iter().map(|c| c.block.clone()).collect();
        for c in &self.clients {
            let others: Vec<String> = blocks.iter().filter(|b| **b != c.block).cloned().collect();
            c.wait_for_routes(&others, SETTLE);
        }
        self.rr.wait_established(SETTLE);
    }

    /// `curl` inside the RR's namespace: (HTTP code, body).
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let out = self
            .rr
            .host
            .command("curl")
            .args(["-s", "-X", method, "-w", "\n%{http_code}"])
            .arg(format!("http://{RRD_HTTP}{path}"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn metrics(&self) -> String {
        let (code, body) = self.http("GET", "/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    fn rr_birdc(&self, command: &str) -> String {
        birdc(&bins::birdc2(), &self.rr.bird_ctl, command)
    }

    /// BGP protocol names BIRD holds.
    fn bird_bgp_protocols(&self) -> Vec<String> {
        self.rr_birdc("show protocols")
            .lines()
            .filter_map(|l| {
                let mut cols = l.split_whitespace();
                let name = cols.next()?;
                (cols.next()? == "BGP").then(|| name.trim_start_matches("1002-").to_owned())
            })
            .collect()
    }
}

/// `promtool check metrics` on `text`: its output, or the failure.
fn promtool_check(text: &str) -> Result<String, String> {
    let mut child = Command::new(bins::promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (Debian package prometheus): {e}"))?;
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("the Prometheus text parser reads the scrape")
}

fn value(v: &prometheus_parse::Value) -> f64 {
    match v {
        prometheus_parse::Value::Counter(x)
        | prometheus_parse::Value::Gauge(x)
        | prometheus_parse::Value::Untyped(x) => *x,
        other => panic!("not a single value: {other:?}"),
    }
}

/// `metric{session=...}` values by session (and state, for the one-hot).
fn by_session(scrape: &prometheus_parse::Scrape, metric: &str) -> BTreeMap<String, f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| {
            let mut key = s.labels.get("session").unwrap_or("?").to_owned();
            if let Some(state) = s.labels.get("state") {
                key = format!("{key}/{state}");
            }
            (key, value(&s.value))
        })
        .collect()
}

#[test]
fn a_live_scrape_is_promtool_clean_with_per_peer_series_and_no_mutation_on_the_scrape_port() {
    let s = Scenario::start("obs");
    s.wait_for_reflection();
    // Counts are as of the last read of each session (a session is read
    // when it comes up, and all every counts_interval): wait until both
    // directions have settled.
    let text = poll::until("per-peer prefix counts in /metrics", SETTLE, || {
        let text = s.metrics();
        let scrape = parse(&text);
        let received = by_session(&scrape, "rrd_peer_prefixes_received");
        let sent = by_session(&scrape, "rrd_peer_prefixes_sent");
        if received.len() == 3
            && received.values().all(|v| *v == 1.0)
            && sent.values().all(|v| *v == 2.0)
        {
            Ok(text)
        } else {
            Err(format!("received: {received:?}, sent: {sent:?}\n{text}"))
        }
    });
    let said = promtool_check(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
    println!(
        "promtool check metrics: clean{}",
        if said.trim().is_empty() {
            String::new()
        } else {
            format!(": {said}")
        }
    );

    let scrape = parse(&text);
    let sessions: Vec<String> = s
        .clients
        .iter()
        .map(|c| format!("Global_{}", c.host.ipv4.to_string().replace('.', "_")))
        .collect();
    let up = by_session(&scrape, "rrd_peer_session_up");
    let state = by_session(&scrape, "rrd_peer_session_state");
    let sent = by_session(&scrape, "rrd_peer_prefixes_sent");
    let flaps = by_session(&scrape, "rrd_peer_session_flaps_total");
    let seconds = by_session(&scrape, "rrd_peer_state_seconds");
    for name in &sessions {
        assert_eq!(up.get(name), Some(&1.0), "{name} up: {up:?}");
        assert_eq!(
            sent.get(name),
            Some(&2.0),
            "{name} gets the two other blocks: {sent:?}"
        );
        assert_eq!(flaps.get(name), Some(&0.0), "{name}: {flaps:?}");
        assert!(seconds.get(name).is_some_and(|v| *v >= 0.0), "{seconds:?}");
        for st in [
            "idle",
            "connect",
            "active",
            "opensent",
            "openconfirm",
            "established",
            "down",
        ] {
            let want = if st == "established" { 1.0 } else { 0.0 };
            assert_eq!(
                state.get(&format!("{name}/{st}")),
                Some(&want),
                "{name} {st}: {state:?}"
            );
        }
    }
    for sample in scrape
        .samples
        .iter()
        .filter(|x| x.metric == "rrd_peer_session_up")
    {
        assert_eq!(sample.labels.get("role"), Some("client"), "{sample:?}");
    }
    let build = scrape
        .samples
        .iter()
        .find(|x| x.metric == "rrd_build_info")
        .expect("rrd_build_info");
    assert_eq!(build.labels.get("engine"), Some("bird"));
    assert_eq!(build.labels.get("source"), Some("file"));
    assert!(text.contains("rrd_apply_duration_seconds_count"), "{text}");
    println!("per-peer series of a 3-client lab:");
    for line in text.lines().filter(|l| l.starts_with("rrd_peer_")) {
        println!("  {line}");
    }

    // Nothing mutating on the scrape port; the admin socket serves it.
    let (code, body) = s.http("POST", "/apply?allow_mass_removal=true");
    assert!(
        code == 404 || code == 405,
        "POST /apply on the scrape port: {code} {body}"
    );
    let apply = s.rr.rrd(&[
        "apply",
        "--socket",
        s.admin_socket.to_str().unwrap(),
        "--allow-mass-removal",
    ]);
    assert!(
        apply.status.success(),
        "rrd apply: {}",
        String::from_utf8_lossy(&apply.stderr)
    );
    assert!(String::from_utf8_lossy(&apply.stdout).contains("reconcile requested"));
    let status = s.rr.rrd(&[
        "status",
        "--json",
        "--config",
        s.rr.config.to_str().unwrap(),
    ]);
    assert!(
        status.status.success(),
        "rrd status over the admin socket: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(json["in_sync"], true, "{json:#}");
    let mode = std::fs::metadata(&s.admin_socket).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_protocol_added_to_bird_conf_by_hand_is_reported_as_drift_then_removed_after_the_resync_interval(
) {
    let s = Scenario::start("drift");
    s.wait_for_reflection();
    let before = s.rr.bird_since();
    assert_eq!(s.bird_bgp_protocols().len(), 3);

    // An operator adds a session by hand and loads it.
    let mut conf = std::fs::read_to_string(&s.rr.bird_conf).unwrap();
    conf += "\nprotocol bgp by_hand {\n  local 198.51.100.10 as 64512;\n  neighbor 198.51.100.99 as 64512;\n  ipv4 { import none; export none; };\n}\n";
    std::fs::write(&s.rr.bird_conf, conf).unwrap();
    let reply = s.rr_birdc("configure");
    assert!(reply.contains("Reconfigured"), "birdc configure: {reply}");
    let edited = Instant::now();
    println!("BIRD holds: {:?}", s.bird_bgp_protocols());

    let status = poll::until("drift reported", Duration::from_secs(10), || {
        let st = s.rr.status_json();
        if st["drift"].is_object() {
            Ok(st)
        } else {
            Err(format!("status: {st:#}"))
        }
    });
    let seen_after = edited.elapsed();
    assert_eq!(
        status["drift"]["unexpected"],
        serde_json::json!(["by_hand (198.51.100.99)"]),
        "{status:#}"
    );
    assert_eq!(status["in_sync"], false, "{status:#}");
    let desired = status["desired"].as_object().map_or(0, |d| d.len());
    let held = status["sessions"].as_array().map_or(0, |d| d.len());
    println!("drift seen after {seen_after:?}: BIRD holds {held} sessions, rrd wants {desired}; drift = {}", status["drift"]);
    assert_eq!((held, desired), (4, 3));
    let metrics = s.metrics();
    assert!(
        metrics.contains("rrd_drift_sessions{kind=\"unexpected\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rrd_in_sync 0"), "{metrics}");
    let (code, body) = s.http("GET", "/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("differs from what rrd applied"), "{body}");
    assert!(
        s.rr.rrd_log().contains("DRIFT"),
        "{}",
        tail(&s.rr.rrd_log(), 20)
    );

    // Repaired after the resync interval: BIRD holds rrd's sessions again,
    // the clients' sessions untouched.
    poll::until("drift repaired", RESYNC + Duration::from_secs(10), || {
        let st = s.rr.status_json();
        let protocols = s.bird_bgp_protocols();
        if st["drift"].is_null() && st["in_sync"] == true && protocols.len() == 3 {
            Ok(())
        } else {
            Err(format!(
                "BIRD: {protocols:?}\nstatus drift: {} in_sync: {}",
                st["drift"], st["in_sync"]
            ))
        }
    });
    let repaired_after = edited.elapsed();
    println!("repaired after {repaired_after:?} (resync interval {RESYNC:?})");
    assert!(repaired_after <= RESYNC + Duration::from_secs(10));
    rrd_lab::since::assert_not_restarted(
        &before,
        &s.rr.bird_since(),
        "when the drift was repaired",
    );
    let metrics = s.metrics();
    assert!(
        metrics.contains("rrd_drift_sessions{kind=\"unexpected\"} 0"),
        "{metrics}"
    );
}
