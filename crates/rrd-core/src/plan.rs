//! The diff between what an RR's daemon should hold and what it holds.
//!
//! `plan(desired, held)` is pure; an empty [`Plan`] means "touch nothing",
//! which is how restarting rrd against an unchanged datastore stays silent.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Neighbor, PeerKey, RouterSettings, RrConfig};

/// What must change in an engine to go from the held to the desired config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Router settings to (re)establish; `Some` when they differ or when the
    /// daemon holds nothing yet.
    pub router: Option<RouterSettings>,
    pub add: BTreeMap<PeerKey, Neighbor>,
    pub remove: BTreeMap<PeerKey, Neighbor>,
    /// Same session name, different settings: `(held, desired)`.
    pub update: BTreeMap<PeerKey, (Neighbor, Neighbor)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.router.is_none()
            && self.add.is_empty()
            && self.remove.is_empty()
            && self.update.is_empty()
    }

    /// Sessions that go away (removed, or replaced by an update that
    /// changes the neighbor address).
    pub fn removed_sessions(&self) -> usize {
        self.remove.len()
    }

    /// One-line summary for logs and status.
    pub fn summary(&self) -> String {
        format!(
            "{}+{} -{} ~{}",
            if self.router.is_some() { "router " } else { "" },
            self.add.len(),
            self.remove.len(),
            self.update.len()
        )
    }
}

/// Diff `desired` against what the engine holds (`None`: nothing).
pub fn plan(desired: &RrConfig, held: Option<&RrConfig>) -> Plan {
    let Some(held) = held else {
        return Plan {
            router: Some(desired.router.clone()),
            add: desired.neighbors.clone(),
            ..Plan::default()
        };
    };
    let mut out = Plan {
        router: (held.router != desired.router).then(|| desired.router.clone()),
        ..Plan::default()
    };
    for (key, want) in &desired.neighbors {
        match held.neighbors.get(key) {
            None => {
                out.add.insert(key.clone(), want.clone());
            }
            Some(have) if have != want => {
                out.update.insert(key.clone(), (have.clone(), want.clone()));
            }
            Some(_) => {}
        }
    }
    for (key, have) in &held.neighbors {
        if !desired.neighbors.contains_key(key) {
            out.remove.insert(key.clone(), have.clone());
        }
    }
    out
}

/// [`plan`] for the sessions named by `keys` only: what a change touched
/// ([`crate::Touched::Sessions`]), when `held` is known to equal `desired`
/// everywhere else. Costs what `keys` holds, not what the configs hold.
pub fn plan_sessions<'k>(
    desired: &RrConfig,
    held: &RrConfig,
    keys: impl IntoIterator<Item = &'k PeerKey>,
) -> Plan {
    let mut out = Plan {
        router: (held.router != desired.router).then(|| desired.router.clone()),
        ..Plan::default()
    };
    for key in keys {
        match (desired.neighbors.get(key), held.neighbors.get(key)) {
            (Some(want), None) => {
                out.add.insert(key.clone(), want.clone());
            }
            (Some(want), Some(have)) if want != have => {
                out.update.insert(key.clone(), (have.clone(), want.clone()));
            }
            (None, Some(have)) => {
                out.remove.insert(key.clone(), have.clone());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Asn, RrIdentity};
    use crate::semantics::compute;

    fn seed() -> RrConfig {
        let t = crate::semantics::legacy::tests::seed_topology();
        compute(&t, &RrIdentity::v4("172.17.42.40".parse().unwrap()))
            .unwrap()
            .config
    }

    #[test]
    fn identical_configs_give_an_empty_plan() {
        let c = seed();
        assert!(plan(&c, Some(&c)).is_empty());
    }

    #[test]
    fn nothing_held_means_router_and_every_neighbor() {
        let c = seed();
        let p = plan(&c, None);
        assert!(p.router.is_some());
        assert_eq!(p.add.len(), 3);
    }

    #[test]
    fn a_plan_of_some_sessions_sees_only_those() {
        let held = seed();
        let mut desired = held.clone();
        let first = desired.neighbors.keys().next().unwrap().clone();
        let last = desired.neighbors.keys().last().unwrap().clone();
        desired.neighbors.get_mut(&first).unwrap().remote_as = Asn(65001);
        desired.neighbors.remove(&last);
        let only_first = plan_sessions(&desired, &held, [&first]);
        assert_eq!(only_first.update.len(), 1);
        assert!(only_first.remove.is_empty() && only_first.add.is_empty());
        let both = plan_sessions(&desired, &held, [&first, &last]);
        assert_eq!(both, plan(&desired, Some(&held)));
    }

    #[test]
    fn changed_added_and_removed_sessions_are_separated() {
        let held = seed();
        let mut desired = held.clone();
        let first = desired.neighbors.keys().next().unwrap().clone();
        desired.neighbors.get_mut(&first).unwrap().remote_as = Asn(65001);
        let last = desired.neighbors.keys().last().unwrap().clone();
        let gone = desired.neighbors.remove(&last).unwrap();
        let mut extra = gone.clone();
        extra.address = "172.17.42.33".parse().unwrap();
        desired
            .neighbors
            .insert(PeerKey("Global_172_17_42_33".into()), extra);
        let p = plan(&desired, Some(&held));
        assert_eq!(p.update.keys().collect::<Vec<_>>(), [&first]);
        assert_eq!(p.remove.keys().collect::<Vec<_>>(), [&last]);
        assert_eq!(p.add.len(), 1);
        assert!(p.router.is_none());
    }
}
