//! The canonical model, shared by every source and engine.
//!
//! [`topology`] is what a datastore says about the whole fabric; [`rr_config`]
//! is what one route reflector's daemon must hold. Sources only ever produce
//! the first, engines only ever consume the second.

mod identity;
mod ids;
mod labels;
mod rr_config;
mod topology;

pub use identity::RrIdentity;
pub use ids::{Asn, ClusterId, Family, ParseIdError, Secret, SecretRef};
pub use labels::Labels;
pub use rr_config::{
    session_name, GracefulRestart, Neighbor, NextHop, PeerKey, Role, RouterSettings, RrConfig,
    SessionKind, Ttl,
};
pub use topology::{
    parse_go_duration, Defaults, Node, NodeBgpConfig, NodeSelector, PeerMatch, PeerRule,
    ReversePeering, RouteReflector, RuleSet, SourceAddress, Topology, TopologyChange,
};
