//! calico-v1 keys and values ([`rrd_layouts::calico_v1::LegacyStore`]), as
//! the etcd and Consul sources feed them.
//!
//! Input: one operation per line, keys relative to the prefix:
//! `S<key>\t<value>` (a write), `D<key>` (a delete), `T<dir>` (a recursive
//! delete). Checked: when no write was refused, the store built event by
//! event equals one read from the final keys in one go; and a topology the
//! keys make survives encoding back to keys and decoding again.

use std::collections::BTreeMap;

use rrd_layouts::calico_v1::{encode::to_kvs, LegacyStore, DEFAULT_PREFIX};

pub fn run(data: &[u8]) {
    let mut store = LegacyStore::new(DEFAULT_PREFIX);
    // What the datastore holds after each operation.
    let mut keys: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut refused = false;
    for line in data.split(|b| *b == b'\n') {
        let Some((&op, rest)) = line.split_first() else {
            continue;
        };
        match op {
            b'S' => {
                let (rel, value) = match rest.iter().position(|b| *b == b'\t') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &[][..]),
                };
                let key = full_key(rel);
                let update = store.set(&key, value);
                for r in &update.rejected {
                    let _ = r.to_string();
                }
                refused |= !update.rejected.is_empty();
                keys.insert(key, value.to_vec());
            }
            // Deletes name keys as text (the store reads them lossily).
            b'D' => {
                let Ok(rel) = std::str::from_utf8(rest) else {
                    continue;
                };
                let key = full_key(rel.as_bytes());
                let update = store.delete(&key);
                assert!(update.rejected.is_empty(), "a delete refused a key");
                keys.remove(&key);
            }
            b'T' => {
                let Ok(rel) = std::str::from_utf8(rest) else {
                    continue;
                };
                let dir = full_key(rel.as_bytes());
                let dir = String::from_utf8(dir).expect("built from text");
                let dir = dir.trim_end_matches('/');
                let update = store.delete_tree(dir);
                assert!(update.rejected.is_empty(), "a tree delete refused a key");
                let below = format!("{dir}/");
                keys.retain(|k, _| {
                    k.as_slice() != dir.as_bytes() && !k.starts_with(below.as_bytes())
                });
            }
            _ => {}
        }
    }
    let topology = store.snapshot();
    if !refused {
        let (fresh, rejected) = LegacyStore::from_kvs(DEFAULT_PREFIX, &keys);
        assert!(
            rejected.is_empty(),
            "accepted one by one, refused together: {rejected:?}"
        );
        assert_eq!(
            fresh.snapshot(),
            topology,
            "the watched store and a full read of the same keys differ"
        );
    }
    if let Ok(kvs) = to_kvs(&topology) {
        let encoded = kvs
            .iter()
            .map(|(k, v)| (format!("{DEFAULT_PREFIX}/{}", k.path()), v.clone()));
        let (again, rejected) = LegacyStore::from_kvs(DEFAULT_PREFIX, encoded);
        assert!(
            rejected.is_empty(),
            "rrd's own encoding was refused: {rejected:?}"
        );
        assert_eq!(
            again.snapshot(),
            topology,
            "encode -> decode changed the topology"
        );
    }
}

fn full_key(rel: &[u8]) -> Vec<u8> {
    let mut key = format!("{DEFAULT_PREFIX}/").into_bytes();
    key.extend_from_slice(rel);
    key
}
