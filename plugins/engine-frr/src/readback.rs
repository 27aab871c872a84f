//! What bgpd holds, as an [`RrConfig`], when it is not what rrd applied
//! last (edited by hand, or configured before rrd): the neighbors of the
//! view read back from their lines, so that a plan removes what rrd does
//! not want and a migration sees that the daemon is not empty. Fields FRR
//! does not show come from `hint` (the last applied config) or defaults.

use std::collections::BTreeSet;

use rrd_core::{
    Asn, ClusterId, Family, GracefulRestart, Neighbor, NextHop, PeerKey, Role, RouterSettings,
    RrConfig, Secret, SessionKind, Ttl,
};

use crate::view::View;

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn kind_of(key: &str) -> SessionKind {
    if key.starts_with("Mesh_") {
        SessionKind::Mesh
    } else if key.starts_with("Global_") {
        SessionKind::Global
    } else {
        SessionKind::Node
    }
}

/// The view as an [`RrConfig`].
pub fn config_of(view: &View, hint: Option<&RouterSettings>) -> RrConfig {
    let mut router = RouterSettings {
        rules: hint.map(|h| h.rules).unwrap_or_default(),
        router_id: hint.map_or(std::net::Ipv4Addr::UNSPECIFIED, |h| h.router_id),
        local_as: Asn(view.asn),
        cluster_id: None,
        ipv4: hint.and_then(|h| h.ipv4),
        ipv6: hint.and_then(|h| h.ipv6),
        listen_port: hint.and_then(|h| h.listen_port),
    };
    let mut restart_time = None;
    for l in &view.router {
        match words(l).as_slice() {
            ["bgp", "router-id", id] => router.router_id = id.parse().unwrap_or(router.router_id),
            ["bgp", "cluster-id", id] => {
                router.cluster_id = id
                    .parse::<std::net::Ipv4Addr>()
                    .ok()
                    .map(|a| ClusterId(u32::from(a)))
            }
            ["bgp", "graceful-restart", "restart-time", t] => restart_time = t.parse().ok(),
            _ => {}
        }
    }
    let mut out = RrConfig {
        router: router.clone(),
        neighbors: Default::default(),
    };
    for (address, lines) in &view.neighbors {
        let mut n = Neighbor::new(
            SessionKind::Node,
            *address,
            Asn(view.asn),
            Role::NonClient,
            None,
        );
        n.families = BTreeSet::new();
        n.graceful_restart = GracefulRestart {
            enabled: true,
            restart_time,
        };
        let mut key = PeerKey(format!("frr_{address}").replace(['.', ':'], "_"));
        for l in &lines.global {
            let w = words(l);
            match &w[2..] {
                ["remote-as", a] => n.remote_as = Asn(a.parse().unwrap_or(0)),
                ["local-as", a, ..] => n.local_as = Asn(a.parse().unwrap_or(0)),
                ["description", rest @ ..] => key = PeerKey(rest.join(" ")),
                ["password", p] => n.password = Some(Secret::new(*p)),
                ["port", p] => n.port = p.parse().ok(),
                ["passive"] => n.passive = true,
                ["ebgp-multihop", t] => {
                    n.ttl = Ttl::Multihop(t.parse().ok().filter(|t: &u8| *t != 255))
                }
                ["ttl-security", "hops", h] => n.ttl = Ttl::Security(h.parse().unwrap_or(1)),
                ["update-source", s] => n.source_address = s.parse().ok(),
                ["timers", k, _] => n.keepalive_time = k.parse().ok(),
                ["graceful-restart-disable"] => {
                    n.graceful_restart = GracefulRestart {
                        enabled: false,
                        restart_time: None,
                    }
                }
                _ => {}
            }
        }
        n.local_as_explicit = true;
        for (family, af) in [(Family::Ipv4, &lines.ipv4), (Family::Ipv6, &lines.ipv6)] {
            for l in af {
                match &words(l)[2..] {
                    ["activate"] => {
                        n.families.insert(family);
                    }
                    ["route-reflector-client"] => {
                        n.role = Role::RrClient {
                            cluster_id: router.cluster_id,
                        }
                    }
                    ["next-hop-self"] => n.next_hop = NextHop::SetSelf,
                    ["attribute-unchanged", "next-hop"] => n.next_hop = NextHop::Keep,
                    ["allowas-in", k] => n.allow_local_as = k.parse().ok(),
                    _ => {}
                }
            }
        }
        n.kind = kind_of(&key.0);
        out.neighbors.insert(key, n);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rrd_core::testing::conformance::{suite_config, EngineSuiteParams};

    use super::*;
    use crate::originator::LearnedRouterIds;
    use crate::render::render_view;

    #[test]
    fn a_rendered_config_reads_back_as_itself() {
        let c = suite_config(&EngineSuiteParams {
            router_id: "198.51.100.1".parse().unwrap(),
            local_v4: "198.51.100.1".parse().unwrap(),
            local_v6: Some("2001:db8::1".parse().unwrap()),
            neighbors_v4: (2..6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect(),
            neighbors_v6: vec!["2001:db8::2".parse().unwrap()],
        });
        let v = render_view(&c, "rrd", Some(&LearnedRouterIds::default())).unwrap();
        let back = config_of(&v, Some(&c.router));
        assert_eq!(
            back.neighbors.keys().collect::<Vec<_>>(),
            c.neighbors.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            render_view(&back, "rrd", Some(&LearnedRouterIds::default())).unwrap(),
            v
        );
    }
}
