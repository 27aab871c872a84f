//! A node's labels, kept small: the runtime holds every node of a Calico v3
//! fabric (any BGPPeer selector can make any node a peer), so at 100,000
//! nodes what one node's labels cost is multiplied by 100,000.
//!
//! [`Labels`] is a vector sorted by key (a node has a handful of labels;
//! an empty one allocates nothing) of shared strings, and every key and
//! value goes through one interner: 100,000 nodes labelled `rack: r7` share
//! one `rack` and one `r7`. A `BTreeMap<String, String>` with one label
//! cost ~620 bytes (its first leaf alone is 544); [`Labels`] costs one
//! 32-byte allocation per labelled node.
//!
//! The interner forgets strings no label uses any more once it has grown
//! to twice what was in use at its last sweep, so labels unique to one node
//! (`kubernetes.io/hostname`) do not pile up as nodes come and go.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Label keys and values by key, each key once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Labels(Vec<(Arc<str>, Arc<str>)>);

impl Labels {
    pub fn new() -> Labels {
        Labels(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).ok().map(|i| &*self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Set `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Option<Arc<str>> {
        let value = intern(value.as_ref());
        match self.position(key.as_ref()) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (intern(key.as_ref()), value));
                None
            }
        }
    }

    /// Remove `key`; the value it had, if any.
    pub fn remove(&mut self, key: &str) -> Option<Arc<str>> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Keep only the labels `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Key and value, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The labels as an ordinary map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(key))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Labels {
        let mut labels = Labels::new();
        for (k, v) in iter {
            labels.insert(k, v);
        }
        labels.0.shrink_to_fit();
        labels
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Labels {
        map.into_iter().collect()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Labels, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer).map(Labels::from)
    }
}

/// Strings in use by labels, each once.
struct Interner {
    strings: HashSet<Arc<str>>,
    /// How many were in use after the last sweep.
    live_at_sweep: usize,
}

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        strings: HashSet::new(),
        live_at_sweep: 0,
    })
});

/// The one shared copy of `text`.
fn intern(text: &str) -> Arc<str> {
    let mut interner = INTERNER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = interner.strings.get(text) {
        return s.clone();
    }
    if interner.strings.len() >= 2 * interner.live_at_sweep.max(1024) {
        // Only the interner holds these any more.
        interner.strings.retain(|s| Arc::strong_count(s) > 1);
        interner.live_at_sweep = interner.strings.len();
    }
    let s: Arc<str> = Arc::from(text);
    interner.strings.insert(s.clone());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_behave_as_a_map_sorted_by_key() {
        let mut l = Labels::new();
        assert!(l.is_empty());
        assert_eq!(l.insert("rack", "r1"), None);
        assert_eq!(l.insert("a", "x").as_deref(), None);
        assert_eq!(l.insert("rack", "r2").as_deref(), Some("r1"));
        assert_eq!(l.get("rack"), Some("r2"));
        assert!(l.contains_key("a") && !l.contains_key("b"));
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "x"), ("rack", "r2")]);
        assert_eq!(l.remove("a").as_deref(), Some("x"));
        assert_eq!(l.len(), 1);
        let map: BTreeMap<String, String> = [("k".into(), "v".into())].into();
        assert_eq!(Labels::from(map.clone()).to_map(), map);
    }

    #[test]
    fn equal_texts_share_one_allocation() {
        let a: Labels = [("rack", "r7")].into_iter().collect();
        let b: Labels = [("rack".to_owned(), "r7".to_owned())].into_iter().collect();
        assert!(Arc::ptr_eq(&a.0[0].0, &b.0[0].0));
        assert!(Arc::ptr_eq(&a.0[0].1, &b.0[0].1));
    }

    #[test]
    fn strings_no_label_uses_are_forgotten() {
        let kept: Labels = [("kept-key", "kept-value")].into_iter().collect();
        for i in 0..10_000 {
            drop(Labels::from_iter([("unique", format!("value-{i}"))]));
        }
        let interner = INTERNER.lock().unwrap();
        assert!(interner.strings.len() < 5_000, "{}", interner.strings.len());
        assert!(interner.strings.contains("kept-value"));
        drop(kept);
    }

    #[test]
    fn labels_serialize_as_a_map() {
        let l: Labels = [("b", "2"), ("a", "1")].into_iter().collect();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        assert_eq!(serde_json::from_str::<Labels>(&json).unwrap(), l);
        assert_eq!(format!("{l:?}"), r#"{"a": "1", "b": "2"}"#);
    }
}
