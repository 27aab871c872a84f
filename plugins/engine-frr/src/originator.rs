//! ORIGINATOR_ID of the routes bgpd reflects, set on the way in so that
//! FRR reflects the same attributes as BIRD and GoBGP.
//!
//! Why: when bgpd 8.4 reflects a route that has no ORIGINATOR_ID, its
//! outbound check (`subgroup_announce_check`) marks the attribute present
//! with the attribute's type code (9) used as a bit mask, which also sets
//! the MED bit: every such route leaves with MED 0, where BIRD and GoBGP
//! send no MED (README, "FRR facts"). The check is skipped for a route
//! that already carries an ORIGINATOR_ID. So each route-reflector client
//! session gets an inbound route map `rrd-originator-<id>` that sets
//! ORIGINATOR_ID to the client's BGP identifier — the value BIRD and
//! GoBGP put there when they reflect — and bgpd then sends no MED.
//!
//! The identifier rendered, per client session:
//! 1. the one bgpd observed in the client's OPEN (`remoteRouterId`) when
//!    it differed from what was rendered, kept in
//!    `<state_dir>/router-ids.json` ([`LearnedRouterIds`]) so that a
//!    restarted rrd renders it again;
//! 2. else the session's IPv4 address (a Calico node's BIRD router id is
//!    its IPv4 address by default);
//! 3. else, for an IPv6 session, the IPv4 address of the same node's IPv4
//!    session in the same configuration;
//! 4. else none: no route map until bgpd has seen the client's OPEN.
//!
//! Step 1 also takes what another daemon observed: a migration to FRR
//! hands the engine the source daemon's last look
//! ([`rrd_core::BgpEngine::carry_over`]; BIRD's "Neighbor ID", GoBGP's
//! peer state), and [`carried_over`] finds the clients whose identifier
//! there differs from what would be rendered, so that bgpd's first
//! configuration already sets the right ORIGINATOR_ID.
//!
//! Only route-reflector clients (iBGP) get one: routes from non-clients
//! (another RR of the mesh) may already carry an ORIGINATOR_ID that must
//! not be overwritten.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rrd_core::{Neighbor, Observation, RrConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names of the route maps rrd writes start with this.
pub const ROUTE_MAP_PREFIX: &str = "rrd-originator-";

/// The route map that sets ORIGINATOR_ID to `id`.
pub fn route_map_name(id: Ipv4Addr) -> String {
    format!("{ROUTE_MAP_PREFIX}{id}")
}

/// The `route-map ...` line and the body of the route map for `id`, as
/// `show running-config` prints them.
pub fn route_map(id: Ipv4Addr) -> (String, Vec<String>) {
    (
        format!("route-map {} permit 10", route_map_name(id)),
        vec![format!("set originator-id {id}")],
    )
}

/// Router ids bgpd observed that differ from the default, by neighbor
/// address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedRouterIds(pub BTreeMap<IpAddr, Ipv4Addr>);

impl LearnedRouterIds {
    /// The file, or none when it is absent or unreadable.
    pub fn load(path: &Path) -> LearnedRouterIds {
        rrd_process::record::read_json(path).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        rrd_process::record::write_json(path, self)
    }

    /// Take the observed identifiers of `found`; forget what no session
    /// of `desired` needs, and learned ids equal to the default. Whether
    /// anything changed.
    pub fn update(&mut self, found: &[Mismatch], desired: &RrConfig) -> bool {
        let before = self.clone();
        for m in found {
            self.0.insert(m.address, m.observed);
        }
        self.0.retain(|address, id| {
            desired
                .neighbors
                .values()
                .filter(|n| n.address == *address && is_ibgp_client(n, desired))
                .any(|n| default_id(n, desired) != Some(*id))
        });
        *self != before
    }
}

/// Whether the session is one whose routes get an ORIGINATOR_ID from rrd.
fn is_ibgp_client(n: &Neighbor, desired: &RrConfig) -> bool {
    n.role.is_client() && n.remote_as == desired.router.local_as
}

/// The identifier the session's client is expected to have, without
/// what was learned (steps 2 and 3 of the module's list).
fn default_id(n: &Neighbor, desired: &RrConfig) -> Option<Ipv4Addr> {
    match n.address {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => {
            let node = n.peer_node.as_ref()?;
            desired.neighbors.values().find_map(|o| match o.address {
                IpAddr::V4(a) if o.peer_node.as_ref() == Some(node) => Some(a),
                _ => None,
            })
        }
    }
}

/// The ORIGINATOR_ID rrd sets on the routes of session `n`, if any.
pub fn originator_id(
    n: &Neighbor,
    desired: &RrConfig,
    learned: &LearnedRouterIds,
) -> Option<Ipv4Addr> {
    if !is_ibgp_client(n, desired) {
        return None;
    }
    learned
        .0
        .get(&n.address)
        .copied()
        .or_else(|| default_id(n, desired))
}

/// A client whose OPEN named another identifier than the one rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub session: String,
    pub address: IpAddr,
    pub rendered: Option<Ipv4Addr>,
    pub observed: Ipv4Addr,
}

/// The Established client sessions of `show bgp view <v> neighbors json`
/// whose `remoteRouterId` is not what `desired` renders with `learned`.
pub fn mismatches(
    neighbors: &Value,
    desired: &RrConfig,
    learned: &LearnedRouterIds,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (key, n) in &desired.neighbors {
        let seen = &neighbors[n.address.to_string()];
        if seen["bgpState"].as_str() != Some("Established") {
            continue;
        }
        let Some(observed) = crate::observe::remote_router_id(seen) else {
            continue;
        };
        out.extend(mismatch(&key.0, n, observed, desired, learned));
    }
    out
}

/// The client sessions of `desired` for which another daemon's look
/// (`source`, a migration's source) names a peer router id that is not
/// what `desired` renders with `learned`.
pub fn carried_over(
    source: &Observation,
    desired: &RrConfig,
    learned: &LearnedRouterIds,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for s in &source.sessions {
        let Some(n) = desired.neighbors.get(&s.key) else {
            continue;
        };
        let Some(observed) = s.peer_router_id.filter(|_| s.address == n.address) else {
            continue;
        };
        out.extend(mismatch(&s.key.0, n, observed, desired, learned));
    }
    out
}

/// Session `n` (named `session`) as a [`Mismatch`] when it is a client
/// whose `observed` identifier is not the one rendered.
fn mismatch(
    session: &str,
    n: &Neighbor,
    observed: Ipv4Addr,
    desired: &RrConfig,
    learned: &LearnedRouterIds,
) -> Option<Mismatch> {
    if !is_ibgp_client(n, desired) {
        return None;
    }
    let rendered = originator_id(n, desired, learned);
    (rendered != Some(observed)).then(|| Mismatch {
        session: session.to_owned(),
        address: n.address,
        rendered,
        observed,
    })
}

#[cfg(test)]
mod tests {
    use rrd_core::testing::conformance::suite_config;
    use serde_json::json;

    use super::*;
    use crate::render::tests::params;

    fn config() -> RrConfig {
        suite_config(&params())
    }

    fn neighbor<'c>(c: &'c RrConfig, address: &str) -> &'c Neighbor {
        let a: IpAddr = address.parse().unwrap();
        c.neighbors.values().find(|n| n.address == a).unwrap()
    }

    #[test]
    fn clients_default_to_their_ipv4_address_and_non_clients_get_none() {
        let c = config();
        let none = LearnedRouterIds::default();
        assert_eq!(
            originator_id(neighbor(&c, "198.51.100.2"), &c, &none),
            Some(Ipv4Addr::new(198, 51, 100, 2))
        );
        // The mesh peer is not a client.
        assert_eq!(originator_id(neighbor(&c, "198.51.100.4"), &c, &none), None);
        // An IPv6 session of an unknown node: nothing to go by.
        assert_eq!(originator_id(neighbor(&c, "2001:db8::2"), &c, &none), None);
    }

    #[test]
    fn an_ipv6_session_takes_the_ipv4_address_of_its_node() {
        let mut c = config();
        for n in c.neighbors.values_mut() {
            if n.address == "2001:db8::2".parse::<IpAddr>().unwrap()
                || n.address == "198.51.100.3".parse::<IpAddr>().unwrap()
            {
                n.peer_node = Some("node-3".into());
            }
        }
        let none = LearnedRouterIds::default();
        assert_eq!(
            originator_id(neighbor(&c, "2001:db8::2"), &c, &none),
            Some(Ipv4Addr::new(198, 51, 100, 3))
        );
    }

    #[test]
    fn an_observed_id_that_differs_is_learned_and_rendered_after() {
        let c = config();
        let mut learned = LearnedRouterIds::default();
        let json = json!({
            "198.51.100.2": {"bgpState": "Established", "remoteRouterId": "198.18.0.7"},
            "198.51.100.3": {"bgpState": "Established", "remoteRouterId": "198.51.100.3"},
            "198.51.100.4": {"bgpState": "Established", "remoteRouterId": "198.18.0.8"},
            "2001:db8::2": {"bgpState": "Established", "remoteRouterId": "198.18.0.9"},
            "198.51.100.5": {"bgpState": "Active", "remoteRouterId": "0.0.0.0"},
        });
        let found = mismatches(&json, &c, &learned);
        let addresses: Vec<String> = found.iter().map(|m| m.address.to_string()).collect();
        assert_eq!(addresses, ["198.51.100.2", "2001:db8::2"], "{found:?}");
        assert!(learned.update(&found, &c));
        assert_eq!(
            originator_id(neighbor(&c, "198.51.100.2"), &c, &learned),
            Some(Ipv4Addr::new(198, 18, 0, 7))
        );
        assert!(mismatches(&json, &c, &learned).is_empty());
        assert!(!learned.update(&[], &c), "nothing new");
        // The client goes back to its address: the learned id is dropped.
        let back =
            json!({"198.51.100.2": {"bgpState": "Established", "remoteRouterId": "198.51.100.2"}});
        let found = mismatches(&back, &c, &learned);
        assert!(learned.update(&found, &c));
        assert_eq!(learned.0.len(), 1, "{learned:?}");
    }

    fn established(c: &RrConfig, address: &str, id: &str) -> rrd_core::SessionStatus {
        let n = neighbor(c, address);
        let key = c
            .neighbors
            .iter()
            .find(|(_, m)| m.address == n.address)
            .unwrap()
            .0;
        rrd_core::SessionStatus {
            key: key.clone(),
            address: n.address,
            remote_as: Some(n.remote_as),
            state: rrd_core::SessionState::Established,
            since: None,
            info: String::new(),
            routes_received: Some(1),
            routes_sent: Some(1),
            peer_graceful_restart: n.families.clone(),
            rr_client: Some(n.role.is_client()),
            recovery: rrd_core::Recovery::Done,
            peer_router_id: Some(id.parse().unwrap()),
        }
    }

    #[test]
    fn a_migration_carries_over_the_client_ids_another_daemon_saw() {
        let c = config();
        let mut learned = LearnedRouterIds::default();
        // What BIRD showed before a migration: one client with another
        // router id, one with its address, the mesh peer (not a client)
        // with another one, and a session the topology does not have.
        let mut by_hand = established(&c, "198.51.100.3", "198.18.0.9");
        by_hand.key = rrd_core::PeerKey("upstream".into());
        let source = Observation {
            daemon: rrd_core::DaemonState::Running,
            sessions: vec![
                established(&c, "198.51.100.2", "203.0.113.200"),
                established(&c, "198.51.100.3", "198.51.100.3"),
                established(&c, "198.51.100.4", "198.18.0.8"),
                by_hand,
            ],
        };
        let found = carried_over(&source, &c, &learned);
        let addresses: Vec<String> = found.iter().map(|m| m.address.to_string()).collect();
        assert_eq!(addresses, ["198.51.100.2"], "{found:?}");
        assert_eq!(found[0].rendered, Some(Ipv4Addr::new(198, 51, 100, 2)));
        assert!(learned.update(&found, &c));
        assert_eq!(
            originator_id(neighbor(&c, "198.51.100.2"), &c, &learned),
            Some(Ipv4Addr::new(203, 0, 113, 200))
        );
        assert!(carried_over(&source, &c, &learned).is_empty());
    }
}
