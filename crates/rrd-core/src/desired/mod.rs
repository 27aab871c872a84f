//! This RR's desired configuration, kept current change by change.
//!
//! Sits between the source's events and the runtime's plan: the runtime
//! hands every snapshot and every batch of [`TopologyChange`]s to a
//! [`DesiredState`], which answers with the sessions they [`Touched`].
//! A change costs what it touches, not what the fabric holds:
//!
//! * what cannot matter to this RR is not kept at all (legacy rules: peer
//!   records of other RRs, see [`index::rule_concerns`]);
//! * a change to a node, or to a legacy peer record naming a node, touches
//!   only the sessions to that node's addresses: they are recomputed from a
//!   small topology holding the nodes at those addresses, this RR and the
//!   rules ([`region`]), with the very same [`crate::semantics`] functions
//!   a full computation uses, so both always agree (proptest in `tests`);
//! * anything else (defaults, RRs this RR is, Calico v3 rules, secrets)
//!   recomputes everything, like a snapshot.
//!
//! A change that alters no session touches nothing, so the runtime neither
//! plans nor asks the engine anything.

mod index;
mod region;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::model::{PeerKey, RrConfig, RrIdentity, RuleSet, Topology, TopologyChange};
use crate::semantics::{compute_tagged, About, Diagnostic, SemanticsError, Tagged};

use index::{rule_concerns, Index};
use region::Region;

/// The sessions a batch of changes affected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Touched {
    /// No session changed (diagnostics may have).
    #[default]
    Nothing,
    /// These sessions were added, changed or removed.
    Sessions(BTreeSet<PeerKey>),
    /// Anything may have changed: plan everything.
    Everything,
}

impl Touched {
    /// Both sets of effects.
    pub fn merge(&mut self, other: Touched) {
        match (&mut *self, other) {
            (_, Touched::Nothing) | (Touched::Everything, _) => {}
            (_, Touched::Everything) => *self = Touched::Everything,
            (Touched::Nothing, t) => *self = t,
            (Touched::Sessions(mine), Touched::Sessions(more)) => mine.extend(more),
        }
    }

    pub fn is_nothing(&self) -> bool {
        *self == Touched::Nothing
    }
}

/// The computed configuration with what the incremental path needs.
#[derive(Clone, Debug)]
struct Current {
    config: RrConfig,
    /// Session names by neighbor address.
    by_address: BTreeMap<IpAddr, BTreeSet<PeerKey>>,
    tagged: BTreeMap<About, BTreeSet<Diagnostic>>,
    /// `tagged`'s diagnostics, sorted and deduplicated.
    diagnostics: Vec<Diagnostic>,
}

impl Current {
    fn new(config: RrConfig, tagged: Tagged) -> Current {
        let mut by_address: BTreeMap<IpAddr, BTreeSet<PeerKey>> = BTreeMap::new();
        for (k, n) in &config.neighbors {
            by_address.entry(n.address).or_default().insert(k.clone());
        }
        let mut c = Current {
            config,
            by_address,
            tagged: BTreeMap::new(),
            diagnostics: Vec::new(),
        };
        for (about, d) in tagged {
            c.tagged.entry(about).or_default().insert(d);
        }
        c.refresh_diagnostics();
        c
    }

    fn refresh_diagnostics(&mut self) {
        let all: BTreeSet<&Diagnostic> = self.tagged.values().flatten().collect();
        self.diagnostics = all.into_iter().cloned().collect();
    }
}

/// This RR's topology (what of it can matter) and the configuration it
/// implies, kept current.
#[derive(Clone, Debug)]
pub struct DesiredState {
    identity: RrIdentity,
    topology: Topology,
    index: Index,
    current: Result<Current, SemanticsError>,
}

impl DesiredState {
    /// Start from a complete snapshot.
    pub fn new(identity: RrIdentity, topology: Topology) -> DesiredState {
        let mut d = DesiredState {
            identity,
            topology: Topology::default(),
            index: Index::default(),
            current: Err(SemanticsError::MissingIdentity),
        };
        d.replace(topology);
        d
    }

    /// A new complete snapshot replaces everything.
    pub fn replace(&mut self, mut topology: Topology) -> Touched {
        let rules = topology.rules;
        let me = &self.identity;
        topology.peers.retain(|_, r| rule_concerns(rules, me, r));
        let mut index = Index::default();
        for n in topology.nodes.values() {
            index.node(None, Some(n));
        }
        if rules == crate::model::RuleSet::Legacy {
            for r in topology.peers.values() {
                index.rule(None, Some(r));
            }
        }
        self.topology = topology;
        self.index = index;
        self.recompute_all()
    }

    /// Apply changes in order; the sessions they touched.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = TopologyChange>) -> Touched {
        let mut region = Region::default();
        for change in changes {
            let change = self.scoped(change);
            if self.current.is_ok() && !region.everything {
                region::of_change(
                    &self.topology,
                    &self.index,
                    &self.identity,
                    &change,
                    &mut region,
                );
            }
            self.apply_one(change);
        }
        if self.current.is_err() || region.everything {
            return self.recompute_all();
        }
        if region.is_empty() {
            return Touched::Nothing;
        }
        self.recompute(&region)
    }

    /// The check the periodic resync makes: recompute everything from the
    /// topology kept and compare with what the changes made, session by
    /// session and diagnostic by diagnostic. `Ok`: they agree, nothing
    /// touched. `Err`: they did not (a defect of the incremental path); the
    /// full computation now stands, and the sessions that differed (or
    /// [`Touched::Everything`] when either side had no configuration) are
    /// returned to plan.
    pub fn verify(&mut self) -> Result<(), Touched> {
        let full = compute_tagged(&self.topology, &self.identity).map(|(c, t)| Current::new(c, t));
        let touched = match (&self.current, &full) {
            (Ok(kept), Ok(full)) => {
                if kept.config == full.config && kept.diagnostics == full.diagnostics {
                    return Ok(());
                }
                let (a, b) = (&kept.config.neighbors, &full.config.neighbors);
                let differing: BTreeSet<PeerKey> = a
                    .iter()
                    .filter(|(k, n)| b.get(*k) != Some(*n))
                    .map(|(k, _)| k)
                    .chain(b.keys().filter(|k| !a.contains_key(*k)))
                    .cloned()
                    .collect();
                if kept.config.router != full.config.router {
                    Touched::Everything
                } else if differing.is_empty() {
                    // Only diagnostics differed.
                    Touched::Nothing
                } else {
                    Touched::Sessions(differing)
                }
            }
            (Err(a), Err(b)) if a == b => return Ok(()),
            _ => Touched::Everything,
        };
        self.current = full;
        Err(touched)
    }

    /// The configuration, or why there is none.
    pub fn config(&self) -> Result<&RrConfig, &SemanticsError> {
        self.current.as_ref().map(|c| &c.config)
    }

    /// Sorted, deduplicated: what a full computation would report.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.current
            .as_ref()
            .map_or(&[], |c| c.diagnostics.as_slice())
    }

    /// [`crate::check::this_rr_warnings`] for the configuration kept, in
    /// what a change costs: whether this RR is registered is read from the
    /// index of nodes by address, not from a walk over every node.
    pub fn this_rr_warnings(&self) -> Vec<Diagnostic> {
        let Ok(current) = &self.current else {
            return Vec::new();
        };
        let (topology, me) = (&self.topology, &self.identity);
        crate::check::rr_warnings(topology, me, &current.config, || match topology.rules {
            RuleSet::Legacy => {
                region::my_addresses(me).any(|a| topology.route_reflectors.contains_key(&a))
            }
            RuleSet::CalicoV3 => {
                let registered = |name: &String| {
                    topology
                        .nodes
                        .get(name)
                        .is_some_and(|n| n.rr_cluster_id.is_some())
                };
                match &me.node_name {
                    Some(name) => registered(name),
                    None => region::my_addresses(me).any(|a| self.index.at(&a).any(registered)),
                }
            }
        })
    }

    /// What is kept of the topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn identity(&self) -> &RrIdentity {
        &self.identity
    }

    /// An upsert of a rule this RR does not keep is the removal of any
    /// rule kept under that name.
    fn scoped(&self, change: TopologyChange) -> TopologyChange {
        match change {
            TopologyChange::UpsertPeer(r)
                if !rule_concerns(self.topology.rules, &self.identity, &r) =>
            {
                TopologyChange::RemovePeer(r.name)
            }
            c => c,
        }
    }

    fn apply_one(&mut self, change: TopologyChange) {
        let legacy = self.topology.rules == crate::model::RuleSet::Legacy;
        match &change {
            TopologyChange::UpsertNode(n) => {
                let old = self.topology.nodes.get(&n.name).cloned();
                self.index.node(old.as_ref(), Some(n));
            }
            TopologyChange::RemoveNode(name) => {
                let old = self.topology.nodes.get(name).cloned();
                self.index.node(old.as_ref(), None);
            }
            TopologyChange::UpsertPeer(r) if legacy => {
                let old = self.topology.peers.get(&r.name).cloned();
                self.index.rule(old.as_ref(), Some(r));
            }
            TopologyChange::RemovePeer(name) if legacy => {
                let old = self.topology.peers.get(name).cloned();
                self.index.rule(old.as_ref(), None);
            }
            _ => {}
        }
        self.topology.apply(change);
    }

    fn recompute_all(&mut self) -> Touched {
        let next = compute_tagged(&self.topology, &self.identity).map(|(c, t)| Current::new(c, t));
        let same = match (&self.current, &next) {
            (Ok(a), Ok(b)) => a.config == b.config,
            _ => false,
        };
        self.current = next;
        if same {
            Touched::Nothing
        } else {
            Touched::Everything
        }
    }

    /// Recompute the sessions and diagnostics of `region` only.
    fn recompute(&mut self, region: &Region) -> Touched {
        let (sub, names) = region::topology(&self.topology, &self.index, &self.identity, region);
        let Ok((config, tagged)) = compute_tagged(&sub, &self.identity) else {
            return self.recompute_all();
        };
        let Ok(current) = self.current.as_mut() else {
            return self.recompute_all();
        };
        if config.router != current.config.router {
            // Only changes that recompute everything move router settings.
            return self.recompute_all();
        }
        // Sessions: replace everything at the region's addresses.
        let fresh: BTreeMap<PeerKey, crate::model::Neighbor> = config
            .neighbors
            .into_iter()
            .filter(|(_, n)| region.addrs.contains(&n.address))
            .collect();
        let mut old = BTreeMap::new();
        for addr in &region.addrs {
            for key in current.by_address.remove(addr).unwrap_or_default() {
                if let Some(n) = current.config.neighbors.remove(&key) {
                    old.insert(key, n);
                }
            }
        }
        let mut touched: BTreeSet<PeerKey> = old
            .iter()
            .filter(|(k, n)| fresh.get(*k) != Some(*n))
            .map(|(k, _)| k.clone())
            .collect();
        for (key, n) in fresh {
            if !old.contains_key(&key) {
                touched.insert(key.clone());
            }
            current
                .by_address
                .entry(n.address)
                .or_default()
                .insert(key.clone());
            current.config.neighbors.insert(key, n);
        }
        // Diagnostics about the region's addresses and nodes.
        let in_region = |about: &About| match about {
            About::Topology => false,
            About::Node(n) => names.contains(n),
            About::Address(a) => region.addrs.contains(a),
        };
        let before = current.tagged.len();
        let mut changed = false;
        current.tagged.retain(|about, _| {
            let keep = !in_region(about);
            changed |= !keep;
            keep
        });
        let mut added = false;
        for (about, d) in tagged.into_iter().filter(|(a, _)| in_region(a)) {
            added = true;
            current.tagged.entry(about).or_default().insert(d);
        }
        if changed || added || before != current.tagged.len() {
            current.refresh_diagnostics();
        }
        if touched.is_empty() {
            Touched::Nothing
        } else {
            Touched::Sessions(touched)
        }
    }
}
