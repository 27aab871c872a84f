//! The pure function at the heart of rrd: topology + this RR's identity ->
//! the [`RrConfig`] its daemon must hold.
//!
//! No I/O, no clocks, no hash-map iteration: the same input gives the same
//! output, byte for byte, whatever source produced the topology. Which rules
//! apply follows [`Topology::rules`]: [`legacy`] or [`calico_v3`]
//! (both described in docs/semantics.md).

pub mod calico_v3;
pub mod legacy;

use std::fmt;
use std::net::IpAddr;

use crate::model::{RrConfig, RrIdentity, RuleSet, Topology};

/// Something worth telling the operator that did not stop the computation
/// (a node without an address, a duplicate session, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// What the message is about: a node, a key, a session name.
    pub subject: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            subject: subject.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// What a [`Diagnostic`] is about: the part of the topology whose change
/// can make it appear or go away. [`crate::desired`] recomputes only the
/// sessions and diagnostics of the part a change touched.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum About {
    /// The topology as a whole (a rule, the identity).
    Topology,
    /// One node, by name.
    Node(String),
    /// The session(s) to one neighbor address.
    Address(IpAddr),
}

/// Diagnostics as the rule sets produce them, each with what it is about.
pub(crate) type Tagged = Vec<(About, Diagnostic)>;

/// Sorted, deduplicated diagnostics without their tags.
pub(crate) fn untag(tagged: Tagged) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = tagged.into_iter().map(|(_, d)| d).collect();
    out.sort();
    out.dedup();
    out
}

/// The result of [`compute`]: the configuration plus what was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    pub config: RrConfig,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why no configuration could be computed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemanticsError {
    #[error("this RR has no router id: set identity.ipv4 (the image's IP) or identity.router_id")]
    MissingRouterId,
    #[error("this RR has no identity: set identity.ipv4 and/or identity.ipv6")]
    MissingIdentity,
    #[error("node {0:?} (this RR's identity.node_name) is not in the topology")]
    UnknownNode(String),
    #[error("the {0} rule set is not supported by this build")]
    UnsupportedRules(&'static str),
    #[error("peer rule {rule:?}: {message}")]
    InvalidRule { rule: String, message: String },
}

/// Compute the sessions of the RR `me` from `topology`.
pub fn compute(topology: &Topology, me: &RrIdentity) -> Result<Computed, SemanticsError> {
    let (config, tagged) = compute_tagged(topology, me)?;
    Ok(Computed {
        config,
        diagnostics: untag(tagged),
    })
}

/// [`compute`], with each diagnostic's [`About`].
pub(crate) fn compute_tagged(
    topology: &Topology,
    me: &RrIdentity,
) -> Result<(RrConfig, Tagged), SemanticsError> {
    match topology.rules {
        RuleSet::Legacy => legacy::compute_tagged(topology, me),
        RuleSet::CalicoV3 => calico_v3::compute_tagged(topology, me),
    }
}
