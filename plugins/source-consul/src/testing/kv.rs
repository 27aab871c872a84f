//! The fake Consul's KV store: entries with Consul's `CreateIndex` /
//! `ModifyIndex`, one Raft index, and tombstones for deleted keys, so that
//! a listing's `X-Consul-Index` follows Consul's state store:
//!
//! * every write that changes something takes the next Raft index; a write
//!   of the same value and flags changes nothing (Consul skips it);
//! * a listing's index is the highest `ModifyIndex` or tombstone index
//!   below the prefix, else the KV table's index; never 0 (Consul reports
//!   1 instead);
//! * deleting a key leaves a tombstone at the delete's index; reaping
//!   tombstones (Consul does so after a while) can make a listing's index
//!   go *backwards* — one of the cases Consul's documentation names;
//! * a restored snapshot brings back old content at old indexes — another.

use std::collections::BTreeMap;

/// One stored key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `None`: a key without data (Consul's JSON `"Value": null`).
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The whole store at one moment (`consul snapshot save`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvSnapshot {
    raft_index: u64,
    kvs_index: u64,
    entries: BTreeMap<String, Entry>,
    tombstones: BTreeMap<String, u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct KvState {
    /// The last Raft log index.
    raft_index: u64,
    /// Index of the last change to the KV table (entries or tombstones).
    kvs_index: u64,
    entries: BTreeMap<String, Entry>,
    tombstones: BTreeMap<String, u64>,
}

impl Default for KvState {
    fn default() -> Self {
        KvState {
            // Consul's first Raft entries are internal (cluster config,
            // leader barrier): no user write ever sees index 1.
            raft_index: 10,
            kvs_index: 0,
            entries: BTreeMap::new(),
            tombstones: BTreeMap::new(),
        }
    }
}

impl KvState {
    fn next_index(&mut self) -> u64 {
        self.raft_index += 1;
        self.raft_index
    }

    /// `PUT /v1/kv/<key>`; `true` if something changed.
    pub fn put(&mut self, key: &str, value: Option<Vec<u8>>, flags: u64) -> bool {
        if let Some(e) = self.entries.get(key) {
            if e.value == value && e.flags == flags {
                return false;
            }
        }
        let idx = self.next_index();
        let create_index = self.entries.get(key).map_or(idx, |e| e.create_index);
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                flags,
                create_index,
                modify_index: idx,
            },
        );
        self.kvs_index = idx;
        true
    }

    /// `DELETE /v1/kv/<key>[?recurse]`; `true` if something was deleted.
    pub fn delete(&mut self, key: &str, recurse: bool) -> bool {
        let doomed: Vec<String> = if recurse {
            self.entries
                .range(key.to_owned()..)
                .take_while(|(k, _)| k.starts_with(key))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            self.entries
                .contains_key(key)
                .then(|| key.to_owned())
                .into_iter()
                .collect()
        };
        if doomed.is_empty() {
            return false;
        }
        let idx = self.next_index();
        for k in doomed {
            self.entries.remove(&k);
            self.tombstones.insert(k, idx);
        }
        self.kvs_index = idx;
        true
    }

    /// Every entry whose key starts with `prefix`, and the listing's index.
    pub fn list(&self, prefix: &str) -> (u64, Vec<(&str, &Entry)>) {
        let entries: Vec<(&str, &Entry)> = self
            .entries
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        let mut index = entries
            .iter()
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
        let graveyard = self
            .tombstones
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        index = index.max(graveyard);
        if prefix.is_empty() || index == 0 {
            index = self.kvs_index;
        }
        (index.max(1), entries)
    }

    /// One key and its index (the key's `ModifyIndex`, else the table's).
    pub fn get(&self, key: &str) -> (u64, Option<&Entry>) {
        match self.entries.get(key) {
            Some(e) => (e.modify_index, Some(e)),
            None => (self.kvs_index.max(1), None),
        }
    }

    /// Forget every tombstone (Consul reaps them after a while).
    pub fn reap_tombstones(&mut self) {
        self.tombstones.clear();
    }

    pub fn snapshot(&self) -> KvSnapshot {
        KvSnapshot {
            raft_index: self.raft_index,
            kvs_index: self.kvs_index,
            entries: self.entries.clone(),
            tombstones: self.tombstones.clone(),
        }
    }

    /// `consul snapshot restore`: everything as it was, indexes included.
    pub fn restore(&mut self, s: &KvSnapshot) {
        self.raft_index = s.raft_index;
        self.kvs_index = s.kvs_index;
        self.entries = s.entries.clone();
        self.tombstones = s.tombstones.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<Vec<u8>> {
        Some(s.as_bytes().to_vec())
    }

    #[test]
    fn a_listing_carries_the_highest_index_below_its_prefix() {
        let mut s = KvState::default();
        assert_eq!(s.list("p/").0, 1, "an empty store still answers index 1");
        assert!(s.put("p/a", v("1"), 0));
        assert!(s.put("q/x", v("1"), 0));
        let (ia, _) = s.list("p/");
        assert!(s.put("p/b", v("2"), 0));
        let (ib, entries) = s.list("p/");
        assert!(ib > ia);
        assert_eq!(entries.len(), 2);
        assert!(
            !s.put("p/b", v("2"), 0),
            "an identical write changes nothing"
        );
        assert_eq!(s.list("p/").0, ib);
        assert!(s.put("q/y", v("1"), 0));
        assert_eq!(
            s.list("p/").0,
            ib,
            "writes elsewhere do not move p/'s index"
        );
        assert!(s.put("p/b", v("2"), 7), "new flags are a change");
        assert!(s.list("p/").0 > ib);
    }

    #[test]
    fn reaping_the_tombstone_of_the_newest_key_sends_the_index_back() {
        let mut s = KvState::default();
        s.put("p/a", v("1"), 0);
        let (before, _) = s.list("p/");
        s.put("p/b", v("2"), 0);
        assert!(s.delete("p/b", false));
        let (with_tombstone, _) = s.list("p/");
        assert!(with_tombstone > before);
        s.reap_tombstones();
        assert_eq!(s.list("p/").0, before, "the index went backwards");
    }

    #[test]
    fn a_restored_snapshot_brings_back_old_content_and_old_indexes() {
        let mut s = KvState::default();
        s.put("p/a", v("1"), 0);
        let snap = s.snapshot();
        let (old, _) = s.list("p/");
        s.put("p/a", v("2"), 0);
        s.put("p/c", v("3"), 0);
        assert!(s.delete("p/", true));
        assert!(s.list("p/").1.is_empty());
        s.restore(&snap);
        let (idx, entries) = s.list("p/");
        assert_eq!(idx, old);
        assert_eq!(entries[0].1.value, v("1"));
    }
}
