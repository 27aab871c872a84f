//! What the FRR engine computes before it sends bgpd an isolated change, at
//! the seed's 2,099 neighbors: the render of the whole view (from scratch,
//! and reusing the lines of sessions that did not change), the commands
//! from the running view to the new one, and the neighbors to check. No
//! daemon: the engine's own share of a change's latency.
//!
//! ```text
//! cargo bench -p rrd-engine-frr --bench apply_prep [-- NEIGHBORS CHANGES]
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rrd_core::model::{session_name, SessionKind};
use rrd_core::{Asn, ClusterId, Neighbor, PeerKey, Role, RouterSettings, RrConfig, RuleSet};
use rrd_engine_frr::delta;
use rrd_engine_frr::render::{render_view, render_view_reusing, RenderCache};

const ASN: Asn = Asn(64512);
const CLUSTER: ClusterId = ClusterId(0x0100_0001);

fn client(rr: Ipv4Addr, i: u32) -> (PeerKey, Neighbor) {
    let address = IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + i));
    let role = Role::RrClient {
        cluster_id: Some(CLUSTER),
    };
    let n = Neighbor::new(SessionKind::Node, address, ASN, role, Some(rr.into()));
    (session_name(n.kind, n.address, n.port), n)
}

fn quantiles(mut d: Vec<Duration>) -> String {
    d.sort();
    let at = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:>7.3} ms  p99 {:>7.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let neighbors = args.first().copied().unwrap_or(2_099) as u32;
    let changes = args.get(1).copied().unwrap_or(200);
    let rr = Ipv4Addr::new(198, 18, 0, 1);
    let mut desired = RrConfig {
        router: RouterSettings {
            rules: RuleSet::Legacy,
            router_id: rr,
            local_as: ASN,
            cluster_id: Some(CLUSTER),
            ipv4: Some(rr),
            ipv6: None,
            listen_port: None,
        },
        neighbors: (0..neighbors).map(|i| client(rr, i)).collect(),
    };
    let mut cache = RenderCache::default();
    let mut running = render_view_reusing(&desired, "rrd", None, &mut cache).expect("render");
    let (mut scratch, mut reusing, mut diff, mut check) = (vec![], vec![], vec![], vec![]);
    for i in 0..changes {
        // An isolated change: one client added, then removed again.
        let (key, n) = client(rr, neighbors + 1);
        if i % 2 == 0 {
            desired.neighbors.insert(key, n);
        } else {
            desired.neighbors.remove(&key);
        }
        let t = Instant::now();
        let fresh = render_view(&desired, "rrd", None).expect("render");
        scratch.push(t.elapsed());
        let t = Instant::now();
        let view = render_view_reusing(&desired, "rrd", None, &mut cache).expect("render");
        reusing.push(t.elapsed());
        assert!(view == fresh);
        let t = Instant::now();
        let commands = delta::commands(Some(&running), &view);
        diff.push(t.elapsed());
        assert!(!commands.is_empty());
        let t = Instant::now();
        let changed = delta::changed_neighbors(Some(&running), &view);
        check.push(t.elapsed());
        assert!(changed.neighbors.len() <= 1);
        running = view;
    }
    println!("{neighbors} neighbors, {changes} isolated changes (one client added or removed):");
    println!("  render from scratch     {}", quantiles(scratch));
    println!("  render reusing lines    {}", quantiles(reusing));
    println!("  commands (delta)        {}", quantiles(diff));
    println!("  neighbors to check      {}", quantiles(check));
}
