//! What the test wrote to etcd, and the BGP sessions rrd must hold for it.
//!
//! The keyspace is calico-v1 (`/calico/bgp/v1`, legacy semantics): node
//! mesh off, one global peer (the RR itself, so every node peers with it),
//! the RR's own `rr_v4` key with a cluster id. Nodes are of three kinds:
//! the real clients (Calico-like BIRD 1.6 in namespaces, their routes
//! watched), "base" phantoms that no fault touches (they make the session
//! count large enough for the mass-removal guard), and a "pool" of
//! phantoms that bursts add, move and remove. Phantoms live in
//! 198.18.0.0/15, which the RR's namespace does not route: their sessions
//! stay configured and never establish.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// The calico-v1 key prefix rrd reads.
pub const PREFIX: &str = "/calico/bgp/v1";
/// The AS of the RR's global peer key and of the clients.
pub const ASN: u32 = 65100;
/// Real clients (lab host indexes, also their last octet).
pub const CLIENTS: [u8; 3] = [21, 22, 23];
/// Phantom nodes no fault touches. Many, as in a real fabric: the
/// mass-change guard adds up the sessions removed within its window (10
/// minutes by default), and the pool's churn over a whole schedule (at most
/// 6 removals per burst or compaction, 12 with rrd killed in between) must
/// stay under its threshold (half the sessions) to be applied.
pub const BASE_PHANTOMS: u8 = 90;
/// Phantom nodes bursts and compactions change.
pub const POOL: usize = 6;
/// Addresses a pool node may take (`198.18.1.<4 * slot + choice>`).
pub const POOL_CHOICES: u8 = 4;

/// One write to a pool node: its address becomes `Some(choice)` or the
/// node is deleted (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolWrite {
    pub slot: usize,
    pub choice: Option<u8>,
}

impl PoolWrite {
    /// The key and value (`None`: a delete) this write puts in etcd.
    pub fn key_value(&self) -> (String, Option<String>) {
        (
            format!("{PREFIX}/host/pool{}/ip_addr_v4", self.slot),
            self.choice.map(|c| pool_address(self.slot, c).to_string()),
        )
    }
}

pub fn pool_address(slot: usize, choice: u8) -> Ipv4Addr {
    let slot = u8::try_from(slot).expect("pool slot fits an octet");
    Ipv4Addr::new(198, 18, 1, slot * POOL_CHOICES + choice)
}

pub fn client_address(index: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, index)
}

fn base_phantom_address(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + i)
}

/// BIRD's protocol name of the session rrd makes for a node through the
/// global peer key: `Global_198_51_100_21`.
pub fn session_name(ip: Ipv4Addr) -> String {
    format!("Global_{}", ip.to_string().replace('.', "_"))
}

/// The good keys the test holds in etcd (bad keys are tracked apart).
#[derive(Clone, Debug)]
pub struct Model {
    pub rr: Ipv4Addr,
    /// The address of pool node `slot`, if it exists.
    pub pool: [Option<u8>; POOL],
}

impl Model {
    pub fn new(rr: Ipv4Addr) -> Model {
        Model {
            rr,
            pool: [Some(0), Some(1), None, Some(2), None, Some(3)],
        }
    }

    pub fn apply(&mut self, write: PoolWrite) {
        self.pool[write.slot] = write.choice;
    }

    /// Every good key and its value.
    pub fn kvs(&self) -> BTreeMap<String, String> {
        let rr = self.rr;
        let mut kvs = BTreeMap::new();
        let mut put = |k: String, v: String| {
            kvs.insert(format!("{PREFIX}/{k}"), v);
        };
        put("global/node_mesh".into(), r#"{"enabled":false}"#.into());
        put(
            format!("global/peer_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","as_num":"{ASN}"}}"#),
        );
        put(
            format!("rr_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","cluster_id":"1.0.0.1"}}"#),
        );
        for c in CLIENTS {
            put(
                format!("host/c{c}/ip_addr_v4"),
                client_address(c).to_string(),
            );
        }
        for i in 0..BASE_PHANTOMS {
            put(
                format!("host/ph{i}/ip_addr_v4"),
                base_phantom_address(i).to_string(),
            );
        }
        for (slot, choice) in self.pool.iter().enumerate() {
            if let Some(c) = choice {
                put(
                    format!("host/pool{slot}/ip_addr_v4"),
                    pool_address(slot, *c).to_string(),
                );
            }
        }
        kvs
    }

    /// The sessions the RR must hold: one per node.
    pub fn desired(&self) -> BTreeSet<String> {
        let mut s = self.untouchable();
        for (slot, choice) in self.pool.iter().enumerate() {
            if let Some(c) = choice {
                s.insert(session_name(pool_address(slot, *c)));
            }
        }
        s
    }

    /// Sessions of the clients and the base phantoms: no fault of a
    /// schedule removes them from the desired state (a wipe does, but
    /// the guard must hold it, and the test restores it).
    pub fn untouchable(&self) -> BTreeSet<String> {
        CLIENTS
            .iter()
            .map(|c| session_name(client_address(*c)))
            .chain((0..BASE_PHANTOMS).map(|i| session_name(base_phantom_address(i))))
            .collect()
    }

    /// The real clients' sessions.
    pub fn client_sessions(&self) -> BTreeSet<String> {
        CLIENTS
            .iter()
            .map(|c| session_name(client_address(*c)))
            .collect()
    }

    /// Desired sessions a sequence of pool writes leaves alone from
    /// start to end (no write touches their slot).
    pub fn stable_through(&self, writes: &[PoolWrite]) -> BTreeSet<String> {
        let touched: BTreeSet<usize> = writes.iter().map(|w| w.slot).collect();
        let mut s = self.untouchable();
        for (slot, choice) in self.pool.iter().enumerate() {
            if let (Some(c), false) = (choice, touched.contains(&slot)) {
                s.insert(session_name(pool_address(slot, *c)));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_sessions_follow_the_pool_and_stable_ones_skip_touched_slots() {
        let mut m = Model::new(Ipv4Addr::new(198, 51, 100, 10));
        let before = m.desired();
        assert_eq!(before.len(), 3 + 90 + 4);
        assert!(before.contains("Global_198_51_100_21"));
        assert!(before.contains("Global_198_18_1_0"));
        let writes = [
            PoolWrite {
                slot: 0,
                choice: None,
            },
            PoolWrite {
                slot: 2,
                choice: Some(3),
            },
        ];
        let stable = m.stable_through(&writes);
        assert!(!stable.contains("Global_198_18_1_0"));
        assert!(stable.contains("Global_198_18_1_5"));
        for w in writes {
            m.apply(w);
        }
        let after = m.desired();
        assert!(!after.contains("Global_198_18_1_0"));
        assert!(after.contains("Global_198_18_1_11"));
        assert!(stable.is_subset(&after) && stable.is_subset(&before));
        assert_eq!(m.kvs().len(), 3 + 3 + 90 + 4);
    }
}
