//! Scenario: `rrd migrate` moves a route reflector between BIRD, GoBGP and
//! FRR without a routing outage, with real daemons in namespaces.
//!
//! Lab: RR 198.51.100.10 runs rrd with managed daemons (`manage_process =
//! true` for `[engine.bird]`, `[engine.gobgp]` and `[engine.frr]`, gobgpd
//! on 127.0.0.1:50051 inside the RR's namespace, bgpd alone in a pathspace
//! of the lab's); topology as in
//! `gobgp_parity` (cluster id 1.0.0.1, global peer, AS 64512); clients
//! 198.51.100.21..23 are Calico-like BIRD 1.6 nodes with `graceful restart`
//! and a kernel protocol; a route monitor (`ip -ts monitor route`) runs in
//! every client namespace from before the first handover to the end.
//!
//! The operator procedure is followed to the letter: stop `rrd run` (the
//! daemon keeps its sessions), `rrd migrate --to gobgp`, set `engine.kind
//! = "gobgp"`, start `rrd run` again, which must adopt gobgpd (same PID)
//! and change nothing (`applies.changed == 0`); then the same back to BIRD.
//! Success criterion: zero deletions of any client block in any client
//! namespace during the whole run, every session Established after each
//! step. Printed (`MEASURED ...`): the migrate command's wall time and the
//! report's handover timings (from the old daemon's stop until the new one
//! configured, all Established, End-of-RIB exchanged, route counts equal).
//!
//! Why zero is possible with BIRD 1.6 clients, whose kernel protocol
//! replaces a kernel route by delete + add (`krt_replace_rte`): with the F
//! bit the client keeps the RR's routes, marked stale, until the new
//! daemon's End-of-RIB; the new daemon re-announces each route with the
//! same attributes (next hop, ORIGINATOR_ID, CLUSTER_LIST, LOCAL_PREF,
//! origin), and BIRD 1.6's `rte_recalculate` finds it `rte_same` as the
//! stale one (flags are not compared), clears the stale flag and ignores
//! the update ("Import updates ... ignored" in the client's protocol
//! stats), so nothing reaches the kernel.
//!
//! FRR: chains BIRD 2 -> FRR -> GoBGP -> BIRD 2 and BIRD 2 -> GoBGP -> FRR
//! -> BIRD 2 (every direction to and from FRR), each handover with the
//! same procedure; bgpd stops without NOTIFICATIONs (SIGKILL) and starts as
//! a restarting speaker with the F bit (a fresh bgpd with `bgp
//! graceful-restart preserve-fw-state`). No client route is withdrawn, and
//! FRR reflects the same attribute values as BIRD and GoBGP (no MED: the
//! engine's ORIGINATOR_ID route maps). But bgpd always encodes AS_PATH with
//! the Extended Length flag, where BIRD and GoBGP send it without, and BIRD
//! 1.6 keeps attribute flags in its route cache: the re-announced route is
//! not "the same" as the stale one, so at a handover to or from FRR each
//! BIRD 1.6 client rewrites its kernel routes once (delete + add in one
//! kernel sync, a gap under a millisecond): counted and printed per
//! client, asserted under 10 ms and never a missing route
//! (plugins/engine-frr/README.md). The same chain with BIRD 2 clients,
//! whose kernel protocol replaces an IPv4 route in place, deletes no kernel
//! route at all. An RR on FRR with a client without
//! graceful restart refuses to migrate; a missed deadline rolls back to FRR
//! without a deletion.
//!
//! Router ids: with client c21's BIRD on router id 203.0.113.200 (not its
//! address), `rrd migrate --to frr` from BIRD 2 leaves bgpd with c21's
//! `rrd-originator-203.0.113.200` route map from its first configuration
//! (the engine was handed BIRD's "Neighbor ID"), so the engine never has
//! to correct it, and the other clients see c21's block with that
//! ORIGINATOR_ID.
//!
//! Failure cases: a client without graceful restart makes `rrd migrate`
//! refuse before anything is stopped (exit 2, the session named, BIRD
//! untouched); a deadline too short for the clients to reconnect (300 ms)
//! makes it roll back — gobgpd SIGKILLed, BIRD restarted with `-R` and its
//! configuration — with zero deletions, and `rrd run` then adopts the
//! restarted BIRD and changes nothing.

mod rr;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use rr::{alive, Bird, ManagedRr, MigrateRun};
use rrd_lab::calico_client::{CalicoClient, ClientBird, ClientOptions};
use rrd_lab::route_monitor::{Mark, RouteMonitor, Withdrawals};
use rrd_lab::topology::LegacyTopology;
use rrd_lab::{poll, Lab};

const ASN: u32 = 64512;
const RR: u8 = 10;
const CLIENTS: [u8; 3] = [21, 22, 23];
const SETTLE: Duration = Duration::from_secs(60);
/// Longest a BIRD 1.6 client's kernel route may be away while the client
/// rewrites it for a changed attribute (delete + add in one kernel sync;
/// observed well under 1 ms).
const REWRITE_GAP: Duration = Duration::from_millis(10);

/// Fields drop in order: monitors, clients and the RR first, the lab last.
struct Scenario {
    monitors: Vec<RouteMonitor>,
    clients: Vec<CalicoClient>,
    rr: ManagedRr,
    lab: Lab,
}

impl Scenario {
    /// The lab with rrd running BIRD (`bird`), every client Established and
    /// holding every other client's block. `graceful_restart[i]`: whether
    /// client `i` announces graceful restart.
    fn start(tag: &str, bird: Bird, graceful_restart: [bool; 3]) -> Scenario {
        Scenario::start_on("bird", tag, bird, graceful_restart)
    }

    /// The same with rrd running the engine `kind` (`bird`, `gobgp`,
    /// `frr`) from the start.
    fn start_on(kind: &str, tag: &str, bird: Bird, graceful_restart: [bool; 3]) -> Scenario {
        let clients = graceful_restart.map(|graceful_restart| ClientOptions {
            graceful_restart,
            ..ClientOptions::default()
        });
        Scenario::start_with_clients(kind, tag, bird, clients, ClientBird::V1_6)
    }

    /// The same with clients that run `clients_bird`, client `i`'s
    /// configured as `options[i]` says (options other than the default
    /// only for BIRD 1.6 clients).
    fn start_with_clients(
        kind: &str,
        tag: &str,
        bird: Bird,
        options: [ClientOptions; 3],
        clients_bird: ClientBird,
    ) -> Scenario {
        let mut lab = Lab::new(tag);
        let rr_ip = Ipv4Addr::new(198, 51, 100, RR);
        let mut t = LegacyTopology::new(ASN);
        t.route_reflectors.push((rr_ip, Some("1.0.0.1".into())));
        t.global_peers.push(rr_ip);
        for i in CLIENTS {
            t.nodes
                .push((format!("c{i}"), Ipv4Addr::new(198, 51, 100, i)));
        }
        let topology = lab.path("topology.toml");
        t.write(&topology);
        let host = lab.add_host("rr", RR);
        let mut rr = ManagedRr::new(
            &lab,
            &host,
            bird,
            kind,
            &topology,
            Path::new(env!("CARGO_BIN_EXE_rrd")),
        );
        rr.start_rrd();
        let mut clients = Vec::new();
        let mut monitors = Vec::new();
        for (i, o) in CLIENTS.into_iter().zip(options) {
            let h = lab.add_host(&format!("c{i}"), i);
            monitors.push(RouteMonitor::start(&lab, &h));
            clients.push(match clients_bird {
                ClientBird::V1_6 => CalicoClient::start_with_options(&lab, &h, ASN, &[rr_ip], &o),
                ClientBird::V2 => {
                    assert_eq!(
                        o,
                        ClientOptions::default(),
                        "BIRD 2 clients take no options"
                    );
                    CalicoClient::start_on(&lab, &h, clients_bird, ASN, &[rr_ip])
                }
            });
        }
        let s = Scenario {
            monitors,
            clients,
            rr,
            lab,
        };
        s.rr.wait_established(SETTLE);
        poll::until("every client holds every other block", SETTLE, || {
            s.all_blocks_held()
        });
        s
    }

    fn all_blocks_held(&self) -> Result<(), String> {
        for c in &self.clients {
            let have = c.host.bird_routes();
            let missing: Vec<&String> = self
                .clients
                .iter()
                .filter(|o| o.host.index != c.host.index && !have.contains(&o.block))
                .map(|o| &o.block)
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} misses {missing:?}\n{}",
                    c.host.name,
                    self.diagnostics()
                ));
            }
        }
        Ok(())
    }

    /// Every client's session to the RR is Established and no longer in
    /// graceful restart (End-of-RIB received: stale routes swept).
    fn clients_settled(&self) -> Result<(), String> {
        for c in &self.clients {
            let detail = c.birdc("show protocols all Rr_198_51_100_10");
            if !detail.contains("Established") || detail.contains("graceful restart active") {
                return Err(format!("{}:\n{detail}", c.host.name));
            }
        }
        self.all_blocks_held()
    }

    fn marks(&self) -> Vec<Mark> {
        self.monitors.iter().map(RouteMonitor::mark).collect()
    }

    fn withdrawals_since(&self, marks: &[Mark]) -> Withdrawals {
        self.monitors
            .iter()
            .zip(marks)
            .map(|(m, &mark)| m.withdrawals_since(mark, "203.0.113."))
            .fold(Withdrawals::default(), Withdrawals::merge)
    }

    fn diagnostics(&self) -> String {
        let mut out = format!(
            "RR BIRD: {}\ngobgpd: {}\nbgpd: {}\nrrd log (tail):\n{}\n",
            self.rr.birdc("show protocols"),
            self.rr.gobgp_neighbors(),
            self.rr.vtysh("show bgp view rrd summary"),
            rrd_lab::route_reflector::tail(&self.rr.rrd_log(), 20)
        );
        for c in &self.clients {
            out += &format!("{}: {:?}\n", c.host.name, c.bgp_sessions());
        }
        out
    }

    /// Client-side counters of re-announced routes found identical to the
    /// stale ones ("Import updates ... ignored").
    fn ignored_updates(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| {
                let d = c.birdc("show protocols all Rr_198_51_100_10");
                let line = d
                    .lines()
                    .find(|l| l.trim_start().starts_with("Import updates:"))
                    .unwrap_or_default();
                format!(
                    "{} [{}]",
                    c.host.name,
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect()
    }

    /// One handover with the operator procedure: stop rrd, migrate, switch
    /// engine.kind, start rrd and check it adopts and changes nothing.
    /// `rewrites`: the new daemon re-announces the routes with other
    /// attribute flags (FRR sets Extended Length on AS_PATH; BIRD and GoBGP
    /// do not), so BIRD 1.6 clients rewrite each kernel route (delete + add
    /// in one kernel sync): allowed, but not a gap of a millisecond.
    fn hand_over_with(&mut self, to: &str, label: &str, rewrites: bool) -> MigrateRun {
        self.rr.stop_rrd();
        let marks = self.marks();
        let run = self.rr.migrate(to, None);
        assert_eq!(
            run.code,
            Some(0),
            "rrd migrate --to {to} failed:\n{}\n{}",
            run.output,
            self.diagnostics()
        );
        poll::until("clients settled after the handover", SETTLE, || {
            self.clients_settled()
        });
        let w = self.withdrawals_since(&marks);
        let timings = run
            .timings()
            .iter()
            .map(|(n, ms)| format!("{n} {ms} ms"))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "MEASURED {label}: rrd migrate took {} ms; {timings}; client block deletions: {} (longest gap {} ms)",
            run.elapsed.as_millis(),
            w.deletions,
            w.longest_gap.as_millis()
        );
        eprintln!(
            "MEASURED {label}: client re-announcements found identical: {:?}",
            self.ignored_updates()
        );
        eprintln!(
            "MEASURED {label}: client block deletions per client: {:?}",
            self.monitors
                .iter()
                .zip(&marks)
                .zip(&self.clients)
                .map(|((m, &mark), c)| (
                    c.host.name.clone(),
                    m.withdrawals_since(mark, "203.0.113.").deletions
                ))
                .collect::<Vec<_>>()
        );
        if rewrites {
            assert!(
                w.longest_gap < REWRITE_GAP && w.missing.is_empty(),
                "{label}: a client route was gone for longer than a kernel rewrite: {w:?}\nmigrate output:\n{}",
                run.output
            );
        } else {
            assert_eq!(
                w.deletions, 0,
                "{label}: client routes were deleted: {w:?}\nmigrate output:\n{}",
                run.output
            );
        }

        let pid = self
            .rr
            .pid_of(to)
            .unwrap_or_else(|| panic!("no {to} daemon after the migration:\n{}", run.output));
        // An rrd still configured for the old daemon refuses to start
        // beside the new one.
        let stale = self.rr.run_once(Duration::from_secs(20));
        assert_eq!(
            stale.0,
            Some(1),
            "rrd run with the old engine.kind: {}",
            stale.1
        );
        assert!(
            stale.1.contains("the other engine's daemon still runs"),
            "{}",
            stale.1
        );
        self.rr.write_config(to);
        self.rr.start_rrd();
        let status = self.rr.wait_established(SETTLE);
        assert_eq!(status["engine"]["kind"], to, "{status:#}");
        assert_eq!(
            status["applies"]["changed"], 0,
            "the restarted rrd changed the daemon: {:#}",
            status["applies"]
        );
        let adopted = self.rr.pid_of(to);
        assert_eq!(
            adopted,
            Some(pid),
            "rrd run did not adopt the migrated daemon"
        );
        assert!(
            self.rr.rrd_log().contains("adopted the running"),
            "{}",
            rrd_lab::route_reflector::tail(&self.rr.rrd_log(), 30)
        );
        run
    }
}

impl Scenario {
    fn hand_over(&mut self, to: &str, label: &str) -> MigrateRun {
        self.hand_over_with(to, label, false)
    }
}

fn round_trip(bird: Bird, tag: &str, name: &str) {
    let mut s = Scenario::start(tag, bird, [true; 3]);
    let first = s.marks();
    let bird_pid = s.rr.bird_pid().expect("rrd runs BIRD");
    s.hand_over("gobgp", &format!("{name} -> GoBGP"));
    assert!(!alive(bird_pid), "the old BIRD still runs");
    let gobgpd = s.rr.gobgpd_pid().expect("gobgpd runs");
    s.hand_over("bird", &format!("GoBGP -> {name}"));
    assert!(!alive(gobgpd), "the old gobgpd still runs");
    let all = s.withdrawals_since(&first);
    assert_eq!(all.deletions, 0, "{all:?}");
    assert!(all.missing.is_empty(), "{all:?}");
    s.clients_settled().unwrap_or_else(|e| panic!("{e}"));
    let _ = &s.lab;
}

#[test]
fn migrating_bird2_to_gobgp_and_back_deletes_no_client_route() {
    round_trip(Bird::V2, "mig2", "BIRD 2");
}

#[test]
fn migrating_bird16_to_gobgp_and_back_deletes_no_client_route() {
    round_trip(Bird::V1_6, "mig16", "BIRD 1.6");
}

#[test]
fn a_client_without_graceful_restart_makes_migrate_refuse_before_anything_stops() {
    let mut s = Scenario::start("migref", Bird::V2, [true, true, false]);
    let marks = s.marks();
    let bird_pid = s.rr.bird_pid().expect("rrd runs BIRD");
    let since = s.rr.birdc("show protocols");
    let busy = s.rr.migrate("gobgp", None);
    assert_eq!(busy.code, Some(2), "{}", busy.output);
    assert!(
        busy.output.contains("`rrd run` still serves http.listen"),
        "{}",
        busy.output
    );
    s.rr.stop_rrd();
    let run = s.rr.migrate("gobgp", None);
    eprintln!("{}", run.output);
    assert_eq!(run.code, Some(2), "{}", run.output);
    assert!(
        run.output
            .contains("Global_198_51_100_23: the peer did not negotiate graceful restart for ipv4"),
        "{}",
        run.output
    );
    assert_eq!(s.rr.bird_pid(), Some(bird_pid), "BIRD was touched");
    assert_eq!(s.rr.gobgpd_pid(), None, "gobgpd was started");
    rrd_lab::since::assert_same_sessions(
        &since,
        &s.rr.birdc("show protocols"),
        "by a refused migration",
    );
    let w = s.withdrawals_since(&marks);
    assert_eq!(w.deletions, 0, "{w:?}");
    s.rr.start_rrd();
    let status = s.rr.wait_established(SETTLE);
    assert_eq!(status["applies"]["changed"], 0, "{:#}", status["applies"]);
}

/// rrd on `from` migrates to `to` with a 300 ms deadline, too short for
/// the clients to reconnect: it rolls back (the target stopped without
/// NOTIFICATIONs, the source restarted as a restarting speaker with its
/// configuration) without a client route deleted, and `rrd run` adopts the
/// restarted source and changes nothing.
fn deadline_rollback(tag: &str, from: &str, to: &str) {
    let mut s = Scenario::start_on(from, tag, Bird::V2, [true; 3]);
    let marks = s.marks();
    let old = s.rr.pid_of(from).expect("rrd runs the source daemon");
    s.rr.stop_rrd();
    let run = s.rr.migrate(to, Some("300ms"));
    eprintln!("{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(run.output.contains("rolled back"), "{}", run.output);
    assert!(
        !run.output.contains("without its routes"),
        "a session had come up on {to}: {}",
        run.output
    );
    let new = s.rr.pid_of(from).expect("the source daemon runs again");
    assert_ne!(new, old);
    assert!(!alive(old));
    assert_eq!(s.rr.pid_of(to), None, "{to} still runs");
    poll::until("clients settled after the rollback", SETTLE, || {
        s.clients_settled()
    });
    let w = s.withdrawals_since(&marks);
    eprintln!(
        "MEASURED rollback to {} after a 300 ms deadline: rrd migrate took {} ms; client block deletions: {} (longest gap {} ms)",
        label(from),
        run.elapsed.as_millis(),
        w.deletions,
        w.longest_gap.as_millis()
    );
    assert_eq!(w.deletions, 0, "{w:?}\n{}", run.output);
    s.rr.start_rrd();
    let status = s.rr.wait_established(SETTLE);
    assert_eq!(status["applies"]["changed"], 0, "{:#}", status["applies"]);
    assert_eq!(s.rr.pid_of(from), Some(new), "rrd run did not adopt {from}");
}

#[test]
fn a_missed_deadline_rolls_back_to_bird_without_deleting_client_routes() {
    deadline_rollback("migdl", "bird", "gobgp");
}

/// `kill -<signal> <pid>`, for pausing a client's BIRD.
fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid}");
}

#[test]
fn a_client_that_never_reaches_gobgpd_is_given_back_to_bird_after_the_others() {
    // c23's BIRD is paused (SIGSTOP) just before the handover: BIRD still
    // counts its session Established, but it never comes to gobgpd, which
    // then holds back its routes from c21 and c22 (waiting for c23's
    // End-of-RIB) until the 5 s deadline. Stopping gobgpd then restarts
    // c21's and c22's graceful restart while one is pending, and BIRD 1.6
    // ends the pending one by dropping the stale routes: the one gap this
    // scenario measures. BIRD comes back with c21 and c22 only, recovers as
    // soon as they sent End-of-RIB, and gets c23 afterwards (otherwise it
    // would hold back every route for up to 240 s, its `graceful restart
    // wait`).
    let mut s = Scenario::start("migstop", Bird::V2, [true; 3]);
    let marks = s.marks();
    s.rr.stop_rrd();
    let c23 = s.clients[2].process.pid().expect("c23 runs");
    signal(c23, "STOP");
    let run = s.rr.migrate("gobgp", Some("5s"));
    signal(c23, "CONT");
    eprintln!("{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output
            .contains("given back to bird once it had recovered: Global_198_51_100_23"),
        "{}",
        run.output
    );
    assert!(
        run.output
            .contains("without its routes (their clients dropped the RR's routes until the rollback recovered): Global_198_51_100_21, Global_198_51_100_22"),
        "{}",
        run.output
    );
    poll::until("clients settled after the rollback", SETTLE, || {
        s.clients_settled()
    });
    // c21 and c22 lost each other's block between gobgpd's stop and BIRD's
    // recovery.
    let (c21, c22) = (&s.clients[0], &s.clients[1]);
    let gap21 = s.monitors[0].withdrawals_since(marks[0], &c22.block);
    let gap22 = s.monitors[1].withdrawals_since(marks[1], &c21.block);
    let all = s.withdrawals_since(&marks);
    eprintln!(
        "MEASURED rollback with a client that never reached gobgpd (deadline 5 s): rrd migrate took {} ms; c21 lost c22's block for {} ms, c22 lost c21's for {} ms; all client block deletions: {} (longest gap {} ms at {:?})",
        run.elapsed.as_millis(),
        gap21.longest_gap.as_millis(),
        gap22.longest_gap.as_millis(),
        all.deletions,
        all.longest_gap.as_millis(),
        all.longest_gap_at
    );
    for g in [&gap21, &gap22] {
        assert!(g.missing.is_empty(), "{g:?}");
        assert!(g.longest_gap < Duration::from_secs(5), "{g:?}");
    }
    assert!(all.missing.is_empty(), "{all:?}");
    s.rr.start_rrd();
    let status = s.rr.wait_established(SETTLE);
    assert_eq!(status["applies"]["changed"], 0, "{:#}", status["applies"]);
}

fn label(kind: &str) -> &'static str {
    match kind {
        "bird" => "BIRD 2",
        "gobgp" => "GoBGP",
        "frr" => "FRR",
        _ => "?",
    }
}

/// Migrations along `path` (engine kinds), starting with rrd on `path[0]`,
/// with clients that run `clients`: every handover with the operator
/// procedure. No client route is ever withdrawn. Handovers to or from FRR
/// change each route's AS_PATH flags (see `hand_over_with`): BIRD 1.6
/// clients rewrite their kernel routes once (delete + add), BIRD 2 clients
/// replace them in place, so with BIRD 2 clients no kernel route is ever
/// deleted.
fn chain(tag: &str, path: &[&str], clients: ClientBird) {
    let mut s = Scenario::start_with_clients(
        path[0],
        tag,
        Bird::V2,
        [ClientOptions::default(); 3],
        clients,
    );
    let first = s.marks();
    let mut rewrites = 0;
    for pair in path.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let old =
            s.rr.pid_of(from)
                .unwrap_or_else(|| panic!("rrd runs no {from} daemon"));
        let frr = from == "frr" || to == "frr";
        let rewrite = frr && clients == ClientBird::V1_6;
        rewrites += usize::from(rewrite);
        s.hand_over_with(
            to,
            &format!(
                "{} -> {} ({} clients)",
                label(from),
                label(to),
                clients.label()
            ),
            rewrite,
        );
        assert!(!alive(old), "the old {from} daemon still runs");
    }
    let all = s.withdrawals_since(&first);
    let names: Vec<&str> = path.iter().map(|k| label(k)).collect();
    eprintln!(
        "MEASURED {} ({} clients): client kernel route deletions over the whole chain: {} (longest gap {} ms at {:?}); {rewrites} handovers rewrote the routes",
        names.join(" -> "),
        clients.label(),
        all.deletions,
        all.longest_gap.as_millis(),
        all.longest_gap_at
    );
    let per_rewrite = CLIENTS.len() * (CLIENTS.len() - 1);
    assert!(all.deletions <= rewrites * per_rewrite, "{all:?}");
    assert!(all.longest_gap < REWRITE_GAP, "{all:?}");
    assert!(all.missing.is_empty(), "{all:?}");
    s.clients_settled().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn migrating_bird2_to_frr_to_gobgp_and_back_to_bird2_withdraws_no_client_route() {
    chain(
        "migfrr",
        &["bird", "frr", "gobgp", "bird"],
        ClientBird::V1_6,
    );
}

#[test]
fn with_bird2_clients_migrating_bird2_to_frr_to_gobgp_and_back_deletes_no_client_route() {
    chain("migfr2", &["bird", "frr", "gobgp", "bird"], ClientBird::V2);
}

#[test]
fn migrating_bird2_to_gobgp_to_frr_and_back_to_bird2_withdraws_no_client_route() {
    chain(
        "miggof",
        &["bird", "gobgp", "frr", "bird"],
        ClientBird::V1_6,
    );
}

#[test]
fn an_frr_rr_with_a_client_without_graceful_restart_refuses_to_migrate() {
    let mut s = Scenario::start_on("frr", "migfref", Bird::V2, [true, true, false]);
    let marks = s.marks();
    let bgpd = s.rr.bgpd_pid().expect("rrd runs bgpd");
    s.rr.stop_rrd();
    let run = s.rr.migrate("gobgp", None);
    eprintln!("{}", run.output);
    assert_eq!(run.code, Some(2), "{}", run.output);
    assert!(
        run.output
            .contains("Global_198_51_100_23: the peer did not negotiate graceful restart for ipv4"),
        "{}",
        run.output
    );
    assert_eq!(s.rr.bgpd_pid(), Some(bgpd), "bgpd was touched");
    assert_eq!(s.rr.gobgpd_pid(), None, "gobgpd was started");
    let w = s.withdrawals_since(&marks);
    assert_eq!(w.deletions, 0, "{w:?}");
    s.rr.start_rrd();
    let status = s.rr.wait_established(SETTLE);
    assert_eq!(status["applies"]["changed"], 0, "{:#}", status["applies"]);
    assert_eq!(s.rr.bgpd_pid(), Some(bgpd), "rrd run did not adopt bgpd");
}

#[test]
fn a_missed_deadline_rolls_back_to_frr_without_deleting_client_routes() {
    deadline_rollback("migfdl", "frr", "bird");
}

#[test]
fn migrating_bird2_to_frr_sets_a_clients_router_id_that_is_not_its_address_from_the_start() {
    // c21's BIRD has router id 203.0.113.200: BIRD reflects its routes
    // with that ORIGINATOR_ID, and FRR's first configuration must too.
    let id = Ipv4Addr::new(203, 0, 113, 200);
    let mut clients = [ClientOptions::default(); 3];
    clients[0].router_id = Some(id);
    let mut s = Scenario::start_with_clients("bird", "migrid", Bird::V2, clients, ClientBird::V1_6);
    let block = s.clients[0].block.clone();
    let reflected = |s: &Scenario| -> Vec<Option<String>> {
        s.clients[1..]
            .iter()
            .map(|c| c.route_attributes(&block).originator_id)
            .collect()
    };
    assert_eq!(reflected(&s), [Some(id.to_string()), Some(id.to_string())]);
    s.rr.stop_rrd();
    let run = s.rr.migrate("frr", None);
    eprintln!("{}", run.output);
    assert_eq!(run.code, Some(0), "{}\n{}", run.output, s.diagnostics());
    // No `rrd run` yet. bgpd was configured with c21's id from the first
    // apply: the engine never had to correct it, which it does (and says)
    // once bgpd has seen the client's OPEN with another id than rendered.
    let running = s.rr.vtysh("show running-config");
    let route_map = format!("neighbor 198.51.100.21 route-map rrd-originator-{id} in");
    assert!(running.contains(&route_map), "{route_map}:\n{running}");
    assert!(
        !run.output.contains("is not the ORIGINATOR_ID rrd set"),
        "FRR reflected c21's routes with another ORIGINATOR_ID first:\n{}",
        run.output
    );
    poll::until("clients settled on FRR", SETTLE, || s.clients_settled());
    assert_eq!(reflected(&s), [Some(id.to_string()), Some(id.to_string())]);
}
