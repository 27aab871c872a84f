//! Scenario: two racks, each served by two RRs of different engines — BIRD
//! 2 and GoBGP in one, FRR and BIRD 2 in the other: the seed's top-of-rack
//! model with mixed engines.
//!
//! Topology (legacy rules), one file read by four rrd:
//! * rack 1: r11 = BIRD 2 at 198.51.100.11, r12 = GoBGP at .12, both
//!   registered with cluster id 1.0.0.1; clients c31, c32 (.31, .32);
//! * rack 2: r21 = FRR (bgpd alone, a BGP view) at .21, r22 = BIRD 2 at
//!   .22, both registered with cluster id 1.0.0.2; clients c41, c42 (.41,
//!   .42);
//! * registered RRs form one non-client iBGP full mesh (`Mesh_`, whatever
//!   the cluster ids); every client has node-specific peerings
//!   (`[[peers]] node = .., ip = <rr>`) to both RRs of its rack (`Node_`),
//!   and its BIRD 1.6 config lists both.
//!
//! Checked: every RR holds exactly its 3 mesh + 2 client sessions with the
//! right client flag and cluster id, all Established; every client holds
//! every other client's block from both RRs of its rack, each path with
//! NEXT_HOP = the originating client and its own rack's cluster id first
//! in CLUSTER_LIST. ORIGINATOR_ID is printed, not asserted: gobgpd 3.10
//! adds ORIGINATOR_ID and CLUSTER_LIST only toward RR *clients*
//! (`UpdatePathAttrs` in internal/pkg/table/path.go), so a client route it
//! reflects over the mesh arrives bare and the receiving RR names the
//! GoBGP RR as originator. A BIRD RR of the same rack does not see such a
//! route as its own cluster's; it still keeps its client's own path as best
//! because rrd gives RR-mesh sessions BIRD preference 90, below the 100 of
//! client sessions (without it the bare copy won the router-id tie-break
//! and the block went missing in the other rack while a GoBGP RR restarted).
//!
//! Then, for each RR in turn, it is *stopped*: rrd first (it leaves the
//! daemon alone), then the daemon with SIGTERM, which sends a Cease
//! NOTIFICATION to every peer (BIRD and gobgpd; a NOTIFICATION never
//! starts graceful restart), so its clients and the other RRs flush what it
//! sent at once and keep the same blocks from the rack's other RR
//! (same-rack blocks directly, cross-rack blocks through the mesh). Checked
//! once every session to the stopped RR is down (on its clients and on the
//! three other RRs): every client still holds every other client's block,
//! the stopped RR's clients only through the surviving RR. FRR's bgpd,
//! with graceful restart configured, closes its sessions on SIGTERM
//! *without* a NOTIFICATION: its peers keep its paths as stale (checked:
//! its clients still hold them beside the surviving RR's) until it comes
//! back and sends End-of-RIB. The RR is then restarted as a service manager would
//! (daemon with its last config — BIRD's rendered file, an empty gobgpd —
//! then rrd) and everything must be Established again before the next RR
//! is stopped. A route monitor in every client namespace measures, per
//! stop and per restart, the deletions of client blocks and the longest
//! time a block stayed away (printed as `MEASURED ...`; BIRD 1.6 replaces a
//! kernel route by delete + add, so a best-path change is a 0-1 ms gap).
//! Gaps while an RR stops and while it comes back are asserted under 250 ms
//! (a best-path switch is a 0-1 ms delete + add in BIRD 1.6's kernel sync),
//! with no block missing at the end.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use rrd_lab::calico_client::{CalicoClient, RoutePath};
use rrd_lab::route_monitor::{Mark, RouteMonitor, Withdrawals};
use rrd_lab::route_reflector::{RouteReflectorHost, RrDaemon};
use rrd_lab::topology::LegacyTopology;
use rrd_lab::{poll, Lab, Signal};

const ASN: u32 = 64512;
/// (name, index, daemon, rack).
const RRS: [(&str, u8, RrDaemon, usize); 4] = [
    ("r11", 11, RrDaemon::Bird2, 0),
    ("r12", 12, RrDaemon::Gobgp, 0),
    ("r21", 21, RrDaemon::Frr, 1),
    ("r22", 22, RrDaemon::Bird2, 1),
];
const CLUSTER_IDS: [&str; 2] = ["1.0.0.1", "1.0.0.2"];
/// (index, rack).
const CLIENTS: [(u8, usize); 4] = [(31, 0), (32, 0), (41, 1), (42, 1)];
/// GoBGP waits `idle_hold_time_after_reset` (30 s by default) before it
/// accepts or opens a connection to a peer whose session was reset.
const CONVERGE: Duration = Duration::from_secs(120);
/// Longest a client may miss a block while an RR stops (observed: 0-5 ms).
const STOP_GAP_LIMIT: Duration = Duration::from_millis(250);

fn ip(index: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, index)
}

fn session_name(prefix: &str, index: u8) -> String {
    format!("{prefix}_198_51_100_{index}")
}

/// Fields drop in order: monitors, clients and RRs first, the lab last.
struct Racks {
    monitors: Vec<RouteMonitor>,
    clients: Vec<(CalicoClient, usize)>,
    rrs: Vec<(RouteReflectorHost, usize)>,
    _lab: Lab,
}

impl Racks {
    fn start() -> Racks {
        let mut lab = Lab::new("mix");
        let mut t = LegacyTopology::new(ASN);
        for (_, i, _, rack) in RRS {
            t.route_reflectors
                .push((ip(i), Some(CLUSTER_IDS[rack].into())));
        }
        for (c, rack) in CLIENTS {
            let node = format!("c{c}");
            t.nodes.push((node.clone(), ip(c)));
            for (_, r, _, rr_rack) in RRS {
                if rr_rack == rack {
                    t.node_peers.push((node.clone(), ip(r)));
                }
            }
        }
        let topology = lab.path("topology.toml");
        t.write(&topology);
        let mut rrs = Vec::new();
        for (name, i, daemon, rack) in RRS {
            let host = lab.add_host(name, i);
            let mut rr = RouteReflectorHost::new(
                &lab,
                &host,
                daemon,
                &topology,
                Path::new(env!("CARGO_BIN_EXE_rrd")),
                "[runtime]\nobserve_interval = \"500ms\"\n",
            );
            rr.start_rrd();
            rrs.push((rr, rack));
        }
        for (rr, _) in &rrs {
            rr.wait_ready(Duration::from_secs(30));
        }
        let mut clients = Vec::new();
        let mut monitors = Vec::new();
        for (c, rack) in CLIENTS {
            let host = lab.add_host(&format!("c{c}"), c);
            let rack_rrs: Vec<Ipv4Addr> = RRS
                .iter()
                .filter(|r| r.3 == rack)
                .map(|r| ip(r.1))
                .collect();
            monitors.push(RouteMonitor::start(&lab, &host));
            clients.push((CalicoClient::start(&lab, &host, ASN, &rack_rrs), rack));
        }
        Racks {
            monitors,
            clients,
            rrs,
            _lab: lab,
        }
    }

    fn others<'a>(&'a self, c: &'a CalicoClient) -> impl Iterator<Item = &'a CalicoClient> {
        self.clients
            .iter()
            .map(|(o, _)| o)
            .filter(move |o| o.host.index != c.host.index)
    }

    /// Every client holds every other client's block.
    fn every_block_held(&self) -> Result<(), String> {
        for (c, _) in &self.clients {
            let have = c.host.bird_routes();
            let missing: Vec<&String> = self
                .others(c)
                .map(|o| &o.block)
                .filter(|b| !have.contains(b))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} misses {missing:?}; kernel {have:?}; sessions {:?}",
                    c.host.name,
                    c.bgp_sessions()
                ));
            }
        }
        Ok(())
    }

    /// Every session Established, on the clients and on every RR.
    fn all_established(&self) -> Result<(), String> {
        for (c, _) in &self.clients {
            let s = c.bgp_sessions();
            if s.len() != 2 || s.values().any(|v| v != "Established") {
                return Err(format!("{}: {s:?}", c.host.name));
            }
        }
        for (rr, _) in &self.rrs {
            let st = rr.status_json();
            let (desired, established) = rrd_lab::route_reflector::desired_and_established(&st);
            if desired.len() != 5 || desired != established || st["in_sync"] != true {
                return Err(format!(
                    "{}: desired {desired:?}, established {established:?}\n{}",
                    rr.host.name,
                    rr.status_table()
                ));
            }
        }
        Ok(())
    }

    fn converge(&self, what: &str) {
        poll::until(what, CONVERGE, || {
            self.all_established()
                .and_then(|()| self.every_block_held())
                .map_err(|e| format!("{e}\n{}", self.daemon_state()))
        });
    }

    /// Sessions to RR `index` are down on its clients and the other RRs.
    fn sessions_to_gone(&self, index: u8) -> Result<(), String> {
        let rr_ip = ip(index).to_string();
        for (c, _) in &self.clients {
            let s = c.bgp_sessions();
            if let Some(state) = s.get(&format!("Rr_{}", rr_ip.replace('.', "_"))) {
                if state == "Established" {
                    return Err(format!("{} still Established with {rr_ip}", c.host.name));
                }
            }
        }
        for (rr, _) in self.rrs.iter().filter(|(r, _)| r.host.index != index) {
            let st = rr.status_json();
            let mesh = session_name("Mesh", index);
            let state = st["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["key"] == mesh.as_str())
                .map(|s| s["state"].clone());
            match state {
                Some(s) if s != "Established" => {}
                other => {
                    return Err(format!("{} {mesh}: {other:?}", rr.host.name));
                }
            }
        }
        Ok(())
    }

    /// (client, block, originating client address) -> the client's paths
    /// to the block; `Err` until every client holds two paths (one per
    /// rack RR) for every other block, each with next hop = the originating
    /// client and its own rack's cluster id first in CLUSTER_LIST.
    #[allow(clippy::type_complexity)]
    fn reflected_paths(
        &self,
    ) -> Result<BTreeMap<(String, String, String), Vec<RoutePath>>, String> {
        let mut out = BTreeMap::new();
        for (c, rack) in &self.clients {
            for o in self.others(c) {
                let origin = o.host.ipv4.to_string();
                let paths = c.route_paths(&o.block);
                let ok = paths.len() == 2
                    && paths.iter().all(|p| {
                        let list = p.attributes.cluster_list.as_deref().unwrap_or("");
                        p.attributes.next_hop.as_deref() == Some(origin.as_str())
                            && list.split_whitespace().next() == Some(CLUSTER_IDS[*rack])
                    });
                if !ok {
                    return Err(format!("{} -> {}: {paths:#?}", o.block, c.host.name));
                }
                out.insert((c.host.name.clone(), o.block.clone(), origin), paths);
            }
        }
        Ok(out)
    }

    /// Every client of `rack` holds each other block only from the RR at
    /// `survivor` (the rack's other RR is stopped).
    fn held_only_through(&self, rack: usize, survivor: u8) -> Result<(), String> {
        let from = format!("Rr_{}", ip(survivor).to_string().replace('.', "_"));
        for (c, _) in self.clients.iter().filter(|(_, r)| *r == rack) {
            for o in self.others(c) {
                let paths = c.route_paths(&o.block);
                if paths.is_empty() || paths.iter().any(|p| p.from != from) {
                    return Err(format!("{} -> {}: {paths:#?}", o.block, c.host.name));
                }
            }
        }
        Ok(())
    }

    /// Every client of `rack` still holds each other block from both RRs
    /// of its rack (one of them stopped without a NOTIFICATION).
    fn held_through_both(&self, rack: usize) -> Result<(), String> {
        for (c, _) in self.clients.iter().filter(|(_, r)| *r == rack) {
            for o in self.others(c) {
                let paths = c.route_paths(&o.block);
                if paths.len() != 2 {
                    return Err(format!("{} -> {}: {paths:#?}", o.block, c.host.name));
                }
            }
        }
        Ok(())
    }

    fn marks(&self) -> Vec<Mark> {
        self.monitors.iter().map(RouteMonitor::mark).collect()
    }

    /// Client-block withdrawals on every client since `marks`.
    fn withdrawals_since(&self, marks: &[Mark]) -> Withdrawals {
        self.monitors
            .iter()
            .zip(marks)
            .map(|(m, &mark)| m.withdrawals_since(mark, "203.0.113."))
            .fold(Withdrawals::default(), Withdrawals::merge)
    }

    fn daemon_state(&self) -> String {
        let mut out = String::new();
        for (rr, _) in &self.rrs {
            out += &format!("---- {}\n{}", rr.host.name, rr.status_table());
            if rr.daemon == RrDaemon::Gobgp {
                out += &format!("{:?}\n", rr.gobgp(&["neighbor"]));
            }
            if rr.daemon == RrDaemon::Frr {
                out += &rr.vtysh("show bgp view rrd summary");
            }
        }
        for (c, _) in &self.clients {
            out += &format!("---- {} {:?}\n", c.host.name, c.bgp_sessions());
        }
        out
    }
}

#[test]
fn two_racks_of_bird2_gobgp_and_frr_rrs_reflect_every_block_and_survive_losing_any_one_rr() {
    let started = Instant::now();
    let mut racks = Racks::start();
    racks.converge("the two racks to converge");
    eprintln!("converged after {} ms", started.elapsed().as_millis());

    // Sessions: 3 mesh (non-client, no cluster id) + 2 clients (rack's id).
    for (rr, rack) in &racks.rrs {
        let st = rr.status_json();
        let mut want = BTreeMap::new();
        for (_, i, _, _) in RRS.iter().filter(|r| r.1 != rr.host.index) {
            want.insert(session_name("Mesh", *i), (false, serde_json::Value::Null));
        }
        for (c, _) in CLIENTS.iter().filter(|c| c.1 == *rack) {
            want.insert(session_name("Node", *c), (true, CLUSTER_IDS[*rack].into()));
        }
        let have: BTreeMap<String, (bool, serde_json::Value)> = st["desired"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, d)| (k.clone(), (d["rr_client"] == true, d["cluster_id"].clone())))
            .collect();
        assert_eq!(have, want, "{}:\n{}", rr.host.name, rr.status_table());
        for s in st["sessions"].as_array().into_iter().flatten() {
            let key = s["key"].as_str().unwrap_or_default();
            assert_eq!(
                s["rr_client"].as_bool(),
                Some(key.starts_with("Node_")),
                "{}: {s:#}",
                rr.host.name
            );
        }
        eprintln!("rrd status on {}:\n{}", rr.host.name, rr.status_table());
    }

    // Reflected attributes: every client holds every other block from both
    // RRs of its rack, next hop = the originating client, its own rack's
    // cluster id first in CLUSTER_LIST.
    let paths = poll::until("every block from both RRs of the rack", CONVERGE, || {
        racks.reflected_paths()
    });
    let mut gaps = 0;
    let mut same_rack_via_bird = 0;
    for ((client, block, origin), held) in &paths {
        let rack_of = |addr: &str| {
            CLIENTS
                .iter()
                .find(|(c, _)| ip(*c).to_string() == addr)
                .map(|(_, r)| *r)
        };
        let client_rack = CLIENTS
            .iter()
            .find(|(c, _)| format!("c{c}") == *client)
            .map(|(_, r)| *r);
        for p in held {
            // A BIRD RR's best path for its own client's block is the
            // client's own path (mesh preference 90 < 100), so it reflects
            // it with ORIGINATOR_ID = the client, never a GoBGP RR's bare
            // mesh copy.
            let bird_rr = RRS.iter().any(|(_, i, d, _)| {
                *d == RrDaemon::Bird2
                    && p.from == format!("Rr_{}", ip(*i).to_string().replace('.', "_"))
            });
            if bird_rr && rack_of(origin) == client_rack {
                same_rack_via_bird += 1;
                assert_eq!(
                    p.attributes.originator_id.as_deref(),
                    Some(origin.as_str()),
                    "{client} got {block} from its BIRD RR {} with a foreign originator: {:?}",
                    p.from,
                    p.attributes
                );
            }
        }
        let mut line = format!("{client} holds {block} (from {origin}):");
        for p in held {
            let a = &p.attributes;
            let originator = a.originator_id.clone().unwrap_or_default();
            line += &format!(
                " [{} originator {originator} cluster_list {:?}]",
                p.from,
                a.cluster_list.as_deref().unwrap_or("")
            );
            if originator != *origin {
                gaps += 1;
            }
        }
        eprintln!("{line}");
    }
    assert_eq!(
        same_rack_via_bird, 4,
        "each client has one same-rack block through its BIRD RR"
    );
    eprintln!(
        "paths whose ORIGINATOR_ID is not the originating client: {gaps} of {} \
         (gobgpd reflects client routes to non-client mesh peers without \
         ORIGINATOR_ID and CLUSTER_LIST; see the report)",
        paths.values().map(Vec::len).sum::<usize>()
    );

    // Lose each RR in turn.
    for k in 0..racks.rrs.len() {
        let (name, index, rack) = (
            racks.rrs[k].0.host.name.clone(),
            racks.rrs[k].0.host.index,
            racks.rrs[k].1,
        );
        let survivor = RRS
            .iter()
            .find(|r| r.3 == rack && r.1 != index)
            .map(|r| r.1)
            .expect("two RRs per rack");
        let stop_marks = racks.marks();
        let t0 = Instant::now();
        {
            let rr = &mut racks.rrs[k].0;
            rr.stop_rrd();
            rr.stop_daemon(Signal::SIGTERM);
        }
        poll::until(&format!("every session to {name} down"), CONVERGE, || {
            racks
                .sessions_to_gone(index)
                .map_err(|e| format!("{e}\n{}", racks.daemon_state()))
        });
        let gone = t0.elapsed();
        // Every block was already held through the rack's other RR: no
        // re-convergence to wait for beyond BIRD's table update. bgpd left
        // without a NOTIFICATION: its paths stay, stale, beside the others.
        let graceful = racks.rrs[k].0.daemon == RrDaemon::Frr;
        poll::until(
            &format!("every block still held without {name}"),
            Duration::from_secs(5),
            || {
                racks
                    .every_block_held()
                    .and_then(|()| match graceful {
                        false => racks.held_only_through(rack, survivor),
                        true => racks.held_through_both(rack),
                    })
                    .map_err(|e| format!("{e}\n{}", racks.daemon_state()))
            },
        );
        let w = racks.withdrawals_since(&stop_marks);
        eprintln!(
            "MEASURED stopping {name}: its sessions down after {} ms; every client still holds every other block \
             ({}); client block deletions {}, longest gap {} ms ({}), missing {:?}",
            gone.as_millis(),
            if graceful {
                format!("its rack's clients through {survivor} and, stale, through {name}")
            } else {
                format!("its rack's clients only through {survivor}")
            },
            w.deletions,
            w.longest_gap.as_millis(),
            w.longest_gap_at.as_deref().unwrap_or("-"),
            w.missing
        );
        // The rack's other RR already offered every block: at most a
        // best-path switch (BIRD 1.6 rewrites the kernel route by delete +
        // add), never a block gone for a noticeable time.
        assert!(
            w.longest_gap < STOP_GAP_LIMIT && w.missing.is_empty(),
            "a client lost a block while {name} stopped: {w:?}\n{}",
            racks.daemon_state()
        );
        let restart_marks = racks.marks();

        let t1 = Instant::now();
        {
            let rr = &mut racks.rrs[k].0;
            rr.start_daemon();
            rr.start_rrd();
        }
        racks.converge(&format!(
            "everything Established again after restarting {name}"
        ));
        let w = racks.withdrawals_since(&restart_marks);
        eprintln!(
            "MEASURED restarting {name}: everything Established again after {} ms; client block deletions {}, longest gap {} ms ({})",
            t1.elapsed().as_millis(),
            w.deletions,
            w.longest_gap.as_millis(),
            w.longest_gap_at.as_deref().unwrap_or("-")
        );
        assert!(
            w.longest_gap < STOP_GAP_LIMIT && w.missing.is_empty(),
            "a client lost a block while {name} came back: {w:?}\n{}",
            racks.daemon_state()
        );
    }
}
