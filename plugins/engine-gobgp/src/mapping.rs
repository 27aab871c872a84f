//! Neighbor <-> `apipb::Peer` and RouterSettings <-> `apipb::Global`.
//!
//! Both directions go through a *spec*: the normalised subset of GoBGP's
//! peer (global) configuration that rrd controls, with GoBGP's defaults
//! made explicit. Comparing specs is how the engine decides whether a
//! session must change at all, and whether GoBGP can change it in place;
//! it is also how [`crate::GobgpEngine::held`] maps a listed peer back to a
//! [`Neighbor`].
//!
//! Fields of [`Neighbor`] that GoBGP does not store (session kind beyond the
//! name prefix, `local_as_explicit`, `peer_node`, `next_hop`) come from the
//! last config rrd applied when the daemon's peer still matches it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rrd_core::{
    Asn, ClusterId, Family, GracefulRestart, Neighbor, NextHop, PeerKey, Role, RouterSettings,
    Secret, SessionKind, Ttl,
};

use crate::apipb;
use crate::error::GobgpError;

/// GoBGP's hold time when none is configured (seconds).
pub const DEFAULT_HOLD_TIME: u64 = 90;
/// GoBGP's connect-retry timer default (seconds).
pub const DEFAULT_CONNECT_RETRY: u64 = 120;
/// GoBGP's idle-hold-time-after-reset default (seconds).
pub const DEFAULT_IDLE_HOLD: u64 = 30;
/// Keepalive that GoBGP derives from the default hold time.
pub const DEFAULT_KEEPALIVE: u64 = DEFAULT_HOLD_TIME / 3;
/// `AFI_IP`/`AFI_IP6` with `SAFI_UNICAST`.
const IPV4_UNICAST: (i32, i32) = (1, 1);
const IPV6_UNICAST: (i32, i32) = (2, 1);

/// What the mapping needs to know about the daemon as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapContext {
    /// GoBGP uses it as the cluster id of RR clients that name none.
    pub router_id: Ipv4Addr,
    pub global_asn: u32,
    /// Restart time for neighbors whose graceful restart names none.
    pub restart_time: u32,
    /// Deferral time of every peer with graceful restart.
    pub deferral_time: u32,
}

/// The part of a GoBGP peer that rrd sets, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    pub address: IpAddr,
    pub description: String,
    pub peer_asn: u32,
    pub local_asn: u32,
    pub password: String,
    pub allow_own_asn: u32,
    pub rr_client: bool,
    /// Effective cluster id of an RR client (GoBGP's router id when unset).
    pub cluster_id: Option<Ipv4Addr>,
    /// `None`: the wildcard address (GoBGP lists `0.0.0.0` / `::`).
    pub local_address: Option<IpAddr>,
    pub remote_port: u16,
    pub passive: bool,
    /// `Some(ttl)` when ebgp-multihop is enabled.
    pub multihop: Option<u8>,
    /// `Some(ttl_min)` when TTL security is enabled.
    pub ttl_min: Option<u8>,
    pub gr_enabled: bool,
    /// 0 when graceful restart is off.
    pub restart_time: u32,
    /// 0 when graceful restart is off. Written out even when it is GoBGP's
    /// default (360) so that an UpdatePeer compares equal to what AddPeer
    /// stored.
    pub deferral_time: u32,
    pub keepalive: u64,
    /// Enabled AFI/SAFI pairs, as GoBGP's enum numbers.
    pub families: BTreeSet<(i32, i32)>,
    /// Families with MP graceful restart.
    pub mp_graceful_restart: BTreeSet<(i32, i32)>,
}

/// How a live peer compares with the desired one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difference {
    None,
    /// Only the timers differ: UpdatePeer stores them without resetting the
    /// session (they take effect with the next OPEN).
    TimersOnly,
    /// Anything else: GoBGP resets the session (or silently ignores the
    /// change, for route-reflector, multihop and TTL-security settings), so
    /// rrd deletes and re-adds the peer.
    Reset,
}

impl PeerSpec {
    /// Hold time sent with the keepalive: GoBGP's default, or three
    /// keepalives when that would not fit.
    pub fn hold_time(&self) -> u64 {
        DEFAULT_HOLD_TIME.max(self.keepalive * 3)
    }

    /// Compare `self` (desired) with `live` (listed by gobgpd).
    pub fn difference(&self, live: &PeerSpec) -> Difference {
        let mut live = live.clone();
        // A peer configured without a local address lists the address the
        // session actually uses once it is connected.
        if self.local_address.is_none() {
            live.local_address = None;
        }
        if *self == live {
            return Difference::None;
        }
        live.keepalive = self.keepalive;
        if *self == live {
            Difference::TimersOnly
        } else {
            Difference::Reset
        }
    }
}

fn family_pair(f: Family) -> (i32, i32) {
    match f {
        Family::Ipv4 => IPV4_UNICAST,
        Family::Ipv6 => IPV6_UNICAST,
    }
}

fn pair_family(p: (i32, i32)) -> Option<Family> {
    match p {
        IPV4_UNICAST => Some(Family::Ipv4),
        IPV6_UNICAST => Some(Family::Ipv6),
        _ => None,
    }
}

pub(crate) fn api_family(p: (i32, i32)) -> apipb::Family {
    apipb::Family {
        afi: p.0,
        safi: p.1,
    }
}

/// The spec for a desired neighbor, or why GoBGP cannot hold it.
pub fn spec_of_neighbor(key: &PeerKey, n: &Neighbor, ctx: &MapContext) -> Result<PeerSpec, String> {
    let ebgp = n.remote_as != n.local_as;
    match n.next_hop {
        NextHop::Auto => {}
        NextHop::Keep if !ebgp => {} // GoBGP keeps next hops on iBGP reflection.
        NextHop::Keep => {
            return Err(format!(
                "{key}: next hop keep on an eBGP session needs a GoBGP policy, which rrd does not manage"
            ))
        }
        NextHop::SetSelf => {
            return Err(format!(
                "{key}: next hop self needs a GoBGP policy, which rrd does not manage"
            ))
        }
    }
    let (multihop, ttl_min) = match n.ttl {
        Ttl::Multihop(None) => (Some(255), None),
        Ttl::Multihop(Some(0)) => return Err(format!("{key}: multihop TTL 0")),
        Ttl::Multihop(Some(t)) => (Some(t), None),
        Ttl::Security(0) => return Err(format!("{key}: TTL security with 0 hops")),
        // A peer h hops away sends with TTL 255 and arrives with 256 - h.
        Ttl::Security(hops) => (None, Some((256 - u16::from(hops)) as u8)),
    };
    if let Some(src) = n.source_address {
        if src.is_ipv4() != n.address.is_ipv4() {
            return Err(format!(
                "{key}: source address {src} and neighbor {} are of different families",
                n.address
            ));
        }
    }
    let mut families: BTreeSet<(i32, i32)> = n.families.iter().map(|f| family_pair(*f)).collect();
    if families.is_empty() {
        families.insert(family_pair(n.family()));
    }
    let gr = n.graceful_restart;
    let restart_time = match (gr.enabled, gr.restart_time) {
        (false, _) => 0,
        (true, Some(t)) if t == 0 || t > 4095 => {
            return Err(format!("{key}: restart time {t} is outside 1..4095"))
        }
        (true, Some(t)) => t,
        (true, None) => ctx.restart_time,
    };
    let rr_client = n.role.is_client();
    Ok(PeerSpec {
        address: n.address,
        description: key.0.clone(),
        peer_asn: n.remote_as.0,
        local_asn: n.local_as.0,
        password: n
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default(),
        allow_own_asn: n.allow_local_as.map(u32::from).unwrap_or(0),
        rr_client,
        cluster_id: rr_client.then(|| {
            n.role
                .cluster_id()
                .map(ClusterId::as_ipv4)
                .unwrap_or(ctx.router_id)
        }),
        local_address: n.source_address,
        remote_port: n.port.unwrap_or(179),
        passive: n.passive,
        multihop,
        ttl_min,
        gr_enabled: gr.enabled,
        restart_time,
        deferral_time: if gr.enabled { ctx.deferral_time } else { 0 },
        keepalive: n.keepalive_time.map(u64::from).unwrap_or(DEFAULT_KEEPALIVE),
        mp_graceful_restart: if gr.enabled {
            families.clone()
        } else {
            BTreeSet::new()
        },
        families,
    })
}

/// The AddPeer / UpdatePeer message for a spec. GoBGP's defaults are
/// written out so that what it stores equals what a later UpdatePeer sends
/// (its UpdatePeer compares raw configs and resets the session on any
/// difference).
pub fn peer_of_spec(s: &PeerSpec, local_restarting: bool) -> apipb::Peer {
    let wildcard = if s.address.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let peer_type = if s.peer_asn == s.local_asn {
        apipb::PeerType::Internal
    } else {
        apipb::PeerType::External
    };
    apipb::Peer {
        conf: Some(apipb::PeerConf {
            auth_password: s.password.clone(),
            description: s.description.clone(),
            local_asn: s.local_asn,
            neighbor_address: s.address.to_string(),
            peer_asn: s.peer_asn,
            r#type: peer_type as i32,
            allow_own_asn: s.allow_own_asn,
            ..Default::default()
        }),
        ebgp_multihop: Some(apipb::EbgpMultihop {
            enabled: s.multihop.is_some(),
            multihop_ttl: s.multihop.map(u32::from).unwrap_or(0),
        }),
        route_reflector: Some(apipb::RouteReflector {
            route_reflector_client: s.rr_client,
            route_reflector_cluster_id: s.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
        }),
        state: None,
        timers: Some(apipb::Timers {
            config: Some(apipb::TimersConfig {
                connect_retry: DEFAULT_CONNECT_RETRY,
                hold_time: s.hold_time(),
                keepalive_interval: s.keepalive,
                minimum_advertisement_interval: 0,
                idle_hold_time_after_reset: DEFAULT_IDLE_HOLD,
            }),
            state: None,
        }),
        transport: Some(apipb::Transport {
            local_address: s.local_address.unwrap_or(wildcard).to_string(),
            passive_mode: s.passive,
            remote_port: u32::from(s.remote_port),
            ..Default::default()
        }),
        graceful_restart: Some(apipb::GracefulRestart {
            enabled: s.gr_enabled,
            restart_time: s.restart_time,
            deferral_time: s.deferral_time,
            local_restarting: s.gr_enabled && local_restarting,
            ..Default::default()
        }),
        afi_safis: s
            .families
            .iter()
            .map(|p| apipb::AfiSafi {
                mp_graceful_restart: Some(apipb::MpGracefulRestart {
                    config: Some(apipb::MpGracefulRestartConfig {
                        enabled: s.mp_graceful_restart.contains(p),
                    }),
                    state: None,
                }),
                config: Some(apipb::AfiSafiConfig {
                    family: Some(api_family(*p)),
                    enabled: true,
                }),
                state: None,
            })
            .collect(),
        ttl_security: Some(apipb::TtlSecurity {
            enabled: s.ttl_min.is_some(),
            ttl_min: s.ttl_min.map(u32::from).unwrap_or(0),
        }),
    }
}

fn decode<T: std::str::FromStr>(what: &'static str, text: &str) -> Result<T, GobgpError> {
    text.parse().map_err(|_| GobgpError::Decode {
        what,
        detail: format!("{text:?}"),
    })
}

fn specific_address(text: &str) -> Result<Option<IpAddr>, GobgpError> {
    if text.is_empty() {
        return Ok(None);
    }
    let ip: IpAddr = decode("a peer local address", text)?;
    Ok((!ip.is_unspecified()).then_some(ip))
}

/// The spec of a peer as ListPeer shows it.
pub fn spec_of_peer(p: &apipb::Peer) -> Result<PeerSpec, GobgpError> {
    let conf = p.conf.clone().unwrap_or_default();
    let address: IpAddr = decode("a peer address", &conf.neighbor_address)?;
    let rr = p.route_reflector.clone().unwrap_or_default();
    let transport = p.transport.clone().unwrap_or_default();
    let multihop = p.ebgp_multihop.unwrap_or_default();
    let ttl = p.ttl_security.unwrap_or_default();
    let gr = p.graceful_restart.clone().unwrap_or_default();
    let timers = p.timers.as_ref().and_then(|t| t.config).unwrap_or_default();
    let mut families = BTreeSet::new();
    let mut mp_graceful_restart = BTreeSet::new();
    for a in &p.afi_safis {
        let Some(c) = &a.config else { continue };
        let Some(f) = &c.family else { continue };
        if !c.enabled {
            continue;
        }
        families.insert((f.afi, f.safi));
        let mp = a
            .mp_graceful_restart
            .as_ref()
            .and_then(|m| m.config.as_ref())
            .is_some_and(|c| c.enabled);
        if mp && gr.enabled {
            mp_graceful_restart.insert((f.afi, f.safi));
        }
    }
    let hold = if timers.hold_time == 0 {
        DEFAULT_HOLD_TIME
    } else {
        timers.hold_time
    };
    Ok(PeerSpec {
        address,
        description: conf.description,
        peer_asn: conf.peer_asn,
        local_asn: conf.local_asn,
        password: conf.auth_password,
        allow_own_asn: conf.allow_own_asn,
        rr_client: rr.route_reflector_client,
        cluster_id: if rr.route_reflector_client && !rr.route_reflector_cluster_id.is_empty() {
            Some(decode("a cluster id", &rr.route_reflector_cluster_id)?)
        } else {
            None
        },
        local_address: specific_address(&transport.local_address)?,
        remote_port: match transport.remote_port {
            0 => 179,
            p => u16::try_from(p).map_err(|_| GobgpError::Decode {
                what: "a remote port",
                detail: p.to_string(),
            })?,
        },
        passive: transport.passive_mode,
        multihop: multihop
            .enabled
            .then(|| clamp_u8(multihop.multihop_ttl, 255)),
        ttl_min: ttl.enabled.then(|| clamp_u8(ttl.ttl_min, 255)),
        gr_enabled: gr.enabled,
        restart_time: if gr.enabled { gr.restart_time } else { 0 },
        deferral_time: if gr.enabled { gr.deferral_time } else { 0 },
        keepalive: if timers.keepalive_interval == 0 {
            hold / 3
        } else {
            timers.keepalive_interval
        },
        families,
        mp_graceful_restart,
    })
}

fn clamp_u8(v: u32, zero_means: u8) -> u8 {
    match v {
        0 => zero_means,
        v => u8::try_from(v).unwrap_or(u8::MAX),
    }
}

fn kind_of(key: &PeerKey) -> SessionKind {
    if key.0.starts_with("Mesh_") {
        SessionKind::Mesh
    } else if key.0.starts_with("Global_") {
        SessionKind::Global
    } else {
        SessionKind::Node
    }
}

/// The neighbor a listed peer stands for. `cached` is what rrd applied under
/// this key last; it is returned unchanged when the daemon still holds it.
pub fn neighbor_of_spec(
    key: &PeerKey,
    live: &PeerSpec,
    ctx: &MapContext,
    cached: Option<&Neighbor>,
) -> Neighbor {
    if let Some(c) = cached {
        if let Ok(want) = spec_of_neighbor(key, c, ctx) {
            if want.difference(live) == Difference::None {
                return c.clone();
            }
        }
    }
    let ttl = match (live.ttl_min, live.multihop) {
        (Some(min), _) => Ttl::Security((256 - u16::from(min)) as u8),
        (None, Some(255)) => Ttl::Multihop(None),
        (None, Some(t)) => Ttl::Multihop(Some(t)),
        (None, None) => Ttl::Multihop(Some(1)),
    };
    Neighbor {
        kind: cached.map(|c| c.kind).unwrap_or_else(|| kind_of(key)),
        address: live.address,
        port: (live.remote_port != 179).then_some(live.remote_port),
        remote_as: Asn(live.peer_asn),
        local_as: Asn(live.local_asn),
        local_as_explicit: cached
            .map(|c| c.local_as_explicit)
            .unwrap_or(live.local_asn != ctx.global_asn),
        role: if live.rr_client {
            Role::RrClient {
                cluster_id: live
                    .cluster_id
                    .filter(|c| *c != ctx.router_id)
                    .map(|c| ClusterId(u32::from(c))),
            }
        } else {
            Role::NonClient
        },
        source_address: live.local_address,
        ttl,
        graceful_restart: GracefulRestart {
            enabled: live.gr_enabled,
            restart_time: (live.gr_enabled && live.restart_time != ctx.restart_time)
                .then_some(live.restart_time),
        },
        password: (!live.password.is_empty()).then(|| Secret::new(live.password.clone())),
        passive: live.passive,
        next_hop: cached.map(|c| c.next_hop).unwrap_or_default(),
        allow_local_as: (live.allow_own_asn > 0).then(|| clamp_u8(live.allow_own_asn, 0)),
        keepalive_time: (live.keepalive != DEFAULT_KEEPALIVE)
            .then(|| u32::try_from(live.keepalive).unwrap_or(u32::MAX)),
        families: live
            .families
            .iter()
            .filter_map(|p| pair_family(*p))
            .collect(),
        peer_node: cached.and_then(|c| c.peer_node.clone()),
    }
}

/// The part of GoBGP's global configuration that rrd sets, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalSpec {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// 179 when unset; -1 = no listener.
    pub listen_port: i32,
    /// Never empty: GoBGP's default is both wildcards.
    pub listen_addresses: BTreeSet<IpAddr>,
}

fn wildcards() -> BTreeSet<IpAddr> {
    BTreeSet::from([
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ])
}

/// The global spec for router settings; `listen_port` is the engine
/// config's override.
pub fn spec_of_router(r: &RouterSettings, listen_port: Option<i32>) -> GlobalSpec {
    let mut listen_addresses: BTreeSet<IpAddr> = r
        .ipv4
        .map(IpAddr::V4)
        .into_iter()
        .chain(r.ipv6.map(IpAddr::V6))
        .collect();
    if listen_addresses.is_empty() {
        listen_addresses = wildcards();
    }
    GlobalSpec {
        asn: r.local_as.0,
        router_id: r.router_id,
        listen_port: listen_port.unwrap_or_else(|| i32::from(r.listen_port.unwrap_or(179))),
        listen_addresses,
    }
}

/// The global spec of what GetBgp returned; `None` when no BGP runs.
pub fn spec_of_global(g: &apipb::Global) -> Result<Option<GlobalSpec>, GobgpError> {
    if g.asn == 0 {
        return Ok(None);
    }
    let mut listen_addresses = BTreeSet::new();
    for a in &g.listen_addresses {
        listen_addresses.insert(decode::<IpAddr>("a listen address", a)?);
    }
    if listen_addresses.is_empty() {
        listen_addresses = wildcards();
    }
    Ok(Some(GlobalSpec {
        asn: g.asn,
        router_id: decode("a router id", &g.router_id)?,
        listen_port: if g.listen_port == 0 {
            179
        } else {
            g.listen_port
        },
        listen_addresses,
    }))
}

/// The StartBgp message.
pub fn global_of_spec(s: &GlobalSpec) -> apipb::Global {
    let listen_addresses = if s.listen_addresses == wildcards() {
        Vec::new()
    } else {
        s.listen_addresses.iter().map(ToString::to_string).collect()
    };
    apipb::Global {
        asn: s.asn,
        router_id: s.router_id.to_string(),
        listen_port: s.listen_port,
        listen_addresses,
        // Empty = every family GoBGP knows.
        families: Vec::new(),
        use_multiple_paths: false,
    }
}

/// Router settings for a running daemon; `cached` (what rrd applied last)
/// is returned when the daemon still runs it.
pub fn router_of_global(
    live: &GlobalSpec,
    listen_port: Option<i32>,
    cached: Option<&RouterSettings>,
) -> RouterSettings {
    if let Some(c) = cached {
        if spec_of_router(c, listen_port) == *live {
            return c.clone();
        }
    }
    let specific = |v4: bool| {
        live.listen_addresses
            .iter()
            .find(|a| a.is_ipv4() == v4 && !a.is_unspecified())
            .copied()
    };
    RouterSettings {
        rules: cached.map(|c| c.rules).unwrap_or_default(),
        router_id: live.router_id,
        local_as: Asn(live.asn),
        cluster_id: cached.and_then(|c| c.cluster_id),
        ipv4: specific(true).and_then(|a| match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }),
        ipv6: specific(false).and_then(|a| match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }),
        listen_port: u16::try_from(live.listen_port).ok().filter(|p| *p != 179),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
