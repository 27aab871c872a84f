//! A store scoped to one RR ([`LegacyStore::scoped`]) against the whole
//! fabric's store: for random sequences of calico-v1 writes and deletes
//! (hosts, their addresses, peer records for this RR and for others, global
//! records, RR registrations), what the legacy rules compute for that RR
//! is identical after every step, the scoped store's changes replayed
//! give its topology, and a re-read gives the same topology as the watch.

use std::net::IpAddr;

use proptest::prelude::*;
use rrd_core::{compute, RrIdentity, Topology};
use rrd_layouts::calico_v1::LegacyStore;

const P: &str = "/calico/bgp/v1";
const ME: &str = "198.51.100.1";
const OTHER: &str = "198.51.100.2";

#[derive(Clone, Debug)]
enum Op {
    Set(String, String),
    Delete(String),
    DeleteTree(String),
}

fn host_key() -> impl Strategy<Value = (String, String)> {
    let host = (0..6usize).prop_map(|h| format!("host/node-{h}"));
    let field = prop_oneof![
        (10..14u8).prop_map(|a| ("ip_addr_v4".to_owned(), format!("198.51.100.{a}"))),
        Just(("ip_addr_v4".to_owned(), String::new())),
        Just(("ip_addr_v6".to_owned(), String::new())),
        Just(("as_num".to_owned(), "64600".to_owned())),
        prop_oneof![Just(ME), Just(OTHER)].prop_map(|rr| (
            format!("peer_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","as_num":"64512"}}"#)
        )),
        Just(("peer_v4/198.51.100.1".to_owned(), "garbage".to_owned())),
    ];
    (host, field).prop_map(|(h, (f, v))| (format!("{h}/{f}"), v))
}

fn op() -> impl Strategy<Value = Op> {
    let global = prop_oneof![Just(ME), Just(OTHER)].prop_map(|rr| {
        (
            format!("global/peer_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","as_num":"64513"}}"#),
        )
    });
    let rr = prop_oneof![Just(ME), Just(OTHER)].prop_map(|rr| {
        (
            format!("rr_v4/{rr}"),
            format!(r#"{{"ip":"{rr}","cluster_id":"1.0.0.1"}}"#),
        )
    });
    let key = prop_oneof![4 => host_key(), 1 => global, 1 => rr];
    prop_oneof![
        4 => key.clone().prop_map(|(k, v)| Op::Set(format!("{P}/{k}"), v)),
        2 => key.prop_map(|(k, _)| Op::Delete(format!("{P}/{k}"))),
        1 => (0..6usize).prop_map(|h| Op::DeleteTree(format!("{P}/host/node-{h}"))),
    ]
}

fn run(store: &mut LegacyStore, op: &Op) -> rrd_layouts::calico_v1::Update {
    match op {
        Op::Set(k, v) => store.set(k, v),
        Op::Delete(k) => store.delete(k),
        Op::DeleteTree(k) => store.delete_tree(k),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_scoped_store_computes_what_the_whole_fabric_computes(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let me: IpAddr = ME.parse().unwrap();
        let identity = RrIdentity::v4(ME.parse().unwrap());
        let mut whole = LegacyStore::new(P);
        let mut scoped = LegacyStore::scoped(P, [me]);
        let mut replay = Topology { rules: rrd_core::RuleSet::Legacy, ..Topology::default() };
        let mut kvs = std::collections::BTreeMap::new();
        for op in &ops {
            let a = run(&mut whole, op);
            let b = run(&mut scoped, op);
            prop_assert_eq!(
                a.rejected.iter().map(|r| &r.key).collect::<Vec<_>>(),
                b.rejected.iter().map(|r| &r.key).collect::<Vec<_>>()
            );
            for c in b.changes {
                replay.apply(c);
            }
            prop_assert_eq!(&replay, scoped.topology());
            prop_assert_eq!(
                compute(whole.topology(), &identity),
                compute(scoped.topology(), &identity),
                "after {:?}", op
            );
            match op {
                Op::Set(k, v) => { kvs.insert(k.clone(), v.clone()); }
                Op::Delete(k) => { kvs.remove(k); }
                Op::DeleteTree(d) => kvs.retain(|k: &String, _| !k.starts_with(&format!("{d}/"))),
            }
        }
        // A re-read of what the watch saw changes nothing (bad values keep
        // their last good one, as on the watch).
        let before = scoped.topology().clone();
        let reread = scoped.replace_all(kvs.iter());
        prop_assert_eq!(reread.changes, vec![]);
        prop_assert_eq!(&before, scoped.topology());
        // A first read reports everything as changes, and agrees with the
        // whole fabric's first read.
        let good = kvs.iter().filter(|(_, v)| *v != "garbage");
        let mut fresh = LegacyStore::scoped(P, [me]);
        let update = fresh.replace_all(good.clone());
        let mut from_empty = Topology { rules: rrd_core::RuleSet::Legacy, ..Topology::default() };
        for c in update.changes {
            from_empty.apply(c);
        }
        prop_assert_eq!(&from_empty, fresh.topology());
        let (all, _) = LegacyStore::from_kvs(P, good);
        prop_assert_eq!(compute(fresh.topology(), &identity), compute(all.topology(), &identity));
    }
}

#[test]
fn a_scoped_store_keeps_only_this_rrs_clients_and_records() {
    let me: IpAddr = ME.parse().unwrap();
    let mut s = LegacyStore::scoped(P, [me]);
    s.set(format!("{P}/host/a/ip_addr_v4"), "198.51.100.10");
    s.set(format!("{P}/host/b/ip_addr_v4"), "198.51.100.11");
    s.set(
        format!("{P}/host/b/peer_v4/{OTHER}"),
        format!(r#"{{"ip":"{OTHER}"}}"#),
    );
    assert!(s.topology().nodes.is_empty() && s.topology().peers.is_empty());
    let u = s.set(
        format!("{P}/host/a/peer_v4/{ME}"),
        format!(r#"{{"ip":"{ME}"}}"#),
    );
    assert_eq!(u.changes.len(), 2, "{u:?}");
    assert_eq!(
        s.topology().nodes.keys().collect::<Vec<_>>(),
        vec!["a"],
        "only the client is in the topology"
    );
    // A global record for this RR makes every host a client, and its
    // removal takes them out again.
    s.set(
        format!("{P}/global/peer_v4/{ME}"),
        format!(r#"{{"ip":"{ME}"}}"#),
    );
    assert_eq!(s.topology().nodes.len(), 2);
    s.delete(format!("{P}/global/peer_v4/{ME}"));
    assert_eq!(s.topology().nodes.len(), 1);
    s.delete(format!("{P}/host/a/peer_v4/{ME}"));
    assert!(s.topology().nodes.is_empty());
}
