//! Who "this" route reflector is: the addresses the daemon speaks BGP from,
//! and, for Calico v3 topologies, the node it is.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The identity of the RR whose configuration is being computed. Legacy
/// semantics key everything on `ipv4` / `ipv6` (the image's `IP` / `IP6`);
/// Calico v3 semantics look the RR up by `node_name`, or by address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrIdentity {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Router id; defaults to `ipv4`.
    pub router_id: Option<Ipv4Addr>,
    /// Calico node name (v3).
    pub node_name: Option<String>,
}

impl RrIdentity {
    pub fn v4(ip: Ipv4Addr) -> Self {
        RrIdentity {
            ipv4: Some(ip),
            ..RrIdentity::default()
        }
    }

    pub fn router_id(&self) -> Option<Ipv4Addr> {
        self.router_id.or(self.ipv4)
    }
}
