//! `RrConfig` -> FRR configuration (pure): one BGP view, in the lines FRR's
//! own running configuration shows, so that what bgpd holds can be
//! compared with what rrd rendered line for line ([`crate::view`]).
//!
//! * The view: `router bgp <AS> view <name>` — installs nothing and, with
//!   bgpd running without zebra, treats next hops as reachable (a plain
//!   instance without zebra marks every reflected route's next hop
//!   invalid and reflects nothing).
//! * Router: `bgp router-id`, `no bgp default ipv4-unicast` (families are
//!   activated per neighbor), `bgp cluster-id`, `bgp graceful-restart`
//!   (restarting speaker and helper for every session),
//!   `bgp graceful-restart preserve-fw-state` (the F bit: an RR forwards
//!   nothing, and with the bit set clients keep the routes they hold from
//!   it across a restart of bgpd until its End-of-RIB),
//!   `bgp graceful-restart restart-time` when not FRR's 120 s.
//! * Per neighbor: `remote-as`, `local-as .. no-prepend replace-as` when
//!   it differs from the view's AS, `description <session name>`,
//!   `password`, `port`, `passive`, `ebgp-multihop` (eBGP) or
//!   `ttl-security hops`, `update-source`, `timers`,
//!   `graceful-restart-disable`; per family `activate`,
//!   `route-reflector-client`, `next-hop-self`,
//!   `attribute-unchanged next-hop` (eBGP next hop keep), `allowas-in`,
//!   and on route-reflector clients `route-map rrd-originator-<id> in`,
//!   the route map that sets ORIGINATOR_ID to the client's router id
//!   (without it FRR reflects MED 0: [`crate::originator`]), unless the
//!   engine is told to leave them out (`set_originator_id = false`).
//!
//! What FRR cannot express is refused ([`RenderError`]), never replaced
//! by something else: one cluster id and one restart time per BGP
//! instance, one session per neighbor address, a hop limit on iBGP (FRR
//! sends iBGP with TTL 255), passwords with white space.
//!
//! The engine renders through a [`RenderCache`]: a session whose inputs
//! are those of the last render gets its lines back instead of formatting
//! them again, so an isolated change at 2,000 sessions costs a lookup per
//! session, not a render of all of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use rrd_core::{Asn, ClusterId, Family, Neighbor, NextHop, PeerKey, RrConfig, Ttl};

use crate::originator::{self, LearnedRouterIds};
use crate::view::{NeighborLines, View};

/// FRR's graceful-restart restart time when none is configured (seconds).
pub const DEFAULT_RESTART_TIME: u32 = 120;

/// Why FRR cannot hold a configuration: every problem, each naming its
/// session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct RenderError {
    pub problems: Vec<String>,
}

/// The cluster id FRR must be given (`None`: its router id), or why one
/// BGP instance cannot carry the sessions' cluster ids.
fn cluster_id(desired: &RrConfig, problems: &mut Vec<String>) -> Option<ClusterId> {
    let router_id = ClusterId(u32::from(desired.router.router_id));
    let mut by_id: BTreeMap<ClusterId, Vec<&str>> = BTreeMap::new();
    let mut explicit = false;
    for (key, n) in &desired.neighbors {
        if n.role.is_client() {
            explicit |= n.role.cluster_id().is_some();
            let id = n.role.cluster_id().unwrap_or(router_id);
            by_id.entry(id).or_default().push(&key.0);
        }
    }
    match by_id.len() {
        0 => desired.router.cluster_id,
        1 => {
            let id = *by_id.keys().next().expect("one");
            explicit.then_some(id)
        }
        _ => {
            let list: Vec<String> = by_id
                .iter()
                .map(|(id, keys)| format!("{} for {}", id, keys.join(", ")))
                .collect();
            problems.push(format!(
                "FRR has one cluster id per BGP instance (bgp cluster-id); these client sessions ask for {}: {}",
                by_id.len(),
                list.join("; ")
            ));
            None
        }
    }
}

/// The one restart time of the sessions with graceful restart.
fn restart_time(desired: &RrConfig, problems: &mut Vec<String>) -> u32 {
    let mut by_time: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for (key, n) in &desired.neighbors {
        let gr = n.graceful_restart;
        if gr.enabled {
            let t = gr.restart_time.unwrap_or(DEFAULT_RESTART_TIME);
            by_time.entry(t).or_default().push(&key.0);
        }
    }
    if let Some(bad) = by_time.keys().find(|t| **t == 0 || **t > 4095) {
        problems.push(format!("restart time {bad} is outside 1..4095 seconds"));
    }
    if by_time.len() > 1 {
        let list: Vec<String> = by_time
            .iter()
            .map(|(t, keys)| format!("{t} s for {}", keys.join(", ")))
            .collect();
        problems.push(format!(
            "FRR announces one graceful-restart time per BGP instance (bgp graceful-restart restart-time); these sessions ask for {}: {}",
            by_time.len(),
            list.join("; ")
        ));
    }
    by_time
        .keys()
        .next()
        .copied()
        .unwrap_or(DEFAULT_RESTART_TIME)
}

/// The view `name` that holds `desired`. `originators`: the clients' router
/// ids bgpd observed where they differ from the default, for the
/// ORIGINATOR_ID route maps; `None`: no such route maps.
pub fn render_view(
    desired: &RrConfig,
    name: &str,
    originators: Option<&LearnedRouterIds>,
) -> Result<View, RenderError> {
    render(desired, name, originators, None)
}

/// [`render_view`], taking each neighbor's lines from `cache` when its
/// session is the same as when they were rendered, and keeping there the
/// lines of every other neighbor rendered without a problem. At 2,099
/// neighbors a whole render is ~2.5 ms of formatting (on the path of every
/// change); with the cache it is a lookup and a copy per neighbor.
pub fn render_view_reusing(
    desired: &RrConfig,
    name: &str,
    originators: Option<&LearnedRouterIds>,
    cache: &mut RenderCache,
) -> Result<View, RenderError> {
    render(desired, name, originators, Some(cache))
}

fn render(
    desired: &RrConfig,
    name: &str,
    originators: Option<&LearnedRouterIds>,
    mut cache: Option<&mut RenderCache>,
) -> Result<View, RenderError> {
    let mut problems = Vec::new();
    let r = &desired.router;
    let mut router = vec![
        format!("bgp router-id {}", r.router_id),
        "no bgp default ipv4-unicast".to_owned(),
    ];
    if let Some(c) = cluster_id(desired, &mut problems) {
        router.push(format!("bgp cluster-id {}", Ipv4Addr::from(c.0)));
    }
    let restart = restart_time(desired, &mut problems);
    if restart != DEFAULT_RESTART_TIME {
        router.push(format!("bgp graceful-restart restart-time {restart}"));
    }
    router.push("bgp graceful-restart".to_owned());
    router.push("bgp graceful-restart preserve-fw-state".to_owned());

    let mut neighbors: BTreeMap<IpAddr, NeighborLines> = BTreeMap::new();
    let mut route_maps = BTreeMap::new();
    // Addresses that more than one session asks for.
    let mut shared: BTreeSet<IpAddr> = BTreeSet::new();
    for (key, n) in &desired.neighbors {
        let originator =
            originators.and_then(|learned| originator::originator_id(n, desired, learned));
        if let Some(id) = originator {
            let (header, body) = originator::route_map(id);
            route_maps.insert(header, body);
        }
        let inputs = NeighborInputs {
            neighbor: n,
            local_as: r.local_as,
            originator,
        };
        let lines = match cache.as_deref().and_then(|c| c.get(key, &inputs)) {
            Some(lines) => lines.clone(),
            None => {
                let before = problems.len();
                let lines = neighbor_lines(key, &inputs, &mut problems);
                if let Some(cache) = cache.as_deref_mut().filter(|_| problems.len() == before) {
                    cache.keep(key, &inputs, &lines);
                }
                lines
            }
        };
        if neighbors.insert(n.address, lines).is_some() {
            shared.insert(n.address);
        }
    }
    if let Some(cache) = cache.filter(|c| c.len() > desired.neighbors.len()) {
        cache.retain_only(desired);
    }
    for address in shared {
        let sessions: Vec<&str> = desired
            .neighbors
            .iter()
            .filter(|(_, n)| n.address == address)
            .map(|(key, _)| key.0.as_str())
            .collect();
        problems.push(format!(
            "FRR keys neighbors by address, so these sessions to {address} cannot coexist: {}",
            sessions.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(RenderError { problems });
    }
    Ok(View {
        asn: r.local_as.0,
        name: name.to_owned(),
        router,
        neighbors,
        other: Vec::new(),
        route_maps,
    })
}

/// What one neighbor's lines depend on.
#[derive(Clone, Copy, Debug)]
struct NeighborInputs<'a> {
    neighbor: &'a Neighbor,
    /// The view's AS: a neighbor of another AS is eBGP.
    local_as: Asn,
    /// The ORIGINATOR_ID its route map sets, if it gets one.
    originator: Option<Ipv4Addr>,
}

/// The lines of one neighbor; what FRR cannot express about it goes to
/// `problems`, each naming the session.
fn neighbor_lines(
    key: &PeerKey,
    inputs: &NeighborInputs,
    problems: &mut Vec<String>,
) -> NeighborLines {
    let NeighborInputs {
        neighbor: n,
        local_as,
        originator,
    } = *inputs;
    let a = n.address;
    let p = |rest: String| format!("neighbor {a} {rest}");
    // FRR sorts a peer by the instance's AS: eBGP when it differs.
    let ebgp = n.remote_as != local_as;
    let mut global = vec![p(format!("remote-as {}", n.remote_as.0))];
    if n.local_as != local_as {
        if !ebgp {
            problems.push(format!(
                "{key}: FRR allows a local AS ({}) only on eBGP sessions, and AS {} is the view's own",
                n.local_as.0, n.remote_as.0
            ));
        }
        global.push(p(format!(
            "local-as {} no-prepend replace-as",
            n.local_as.0
        )));
    }
    global.push(p(format!("description {key}")));
    if let Some(pw) = &n.password {
        let pw = pw.expose();
        if pw.is_empty() || pw.chars().any(char::is_whitespace) {
            problems.push(format!(
                "{key}: FRR takes a password as one word: it cannot be empty or hold white space"
            ));
        }
        global.push(p(format!("password {pw}")));
    }
    if let Some(port) = n.port.filter(|p| *p != 179) {
        global.push(p(format!("port {port}")));
    }
    if n.passive {
        global.push(p("passive".into()));
    }
    match n.ttl {
        Ttl::Multihop(None) if ebgp => global.push(p("ebgp-multihop 255".into())),
        Ttl::Multihop(None) => {}
        Ttl::Multihop(Some(0)) => problems.push(format!("{key}: multihop TTL 0")),
        Ttl::Multihop(Some(t)) if ebgp => global.push(p(format!("ebgp-multihop {t}"))),
        Ttl::Multihop(Some(255)) => {}
        Ttl::Multihop(Some(t)) => problems.push(format!(
            "{key}: FRR sends iBGP with TTL 255 and cannot limit it to {t} hops (ebgp-multihop is for eBGP only; use TTL security)"
        )),
        Ttl::Security(0) => problems.push(format!("{key}: TTL security with 0 hops")),
        Ttl::Security(h) => global.push(p(format!("ttl-security hops {h}"))),
    }
    if let Some(src) = n.source_address {
        if src.is_ipv4() != a.is_ipv4() {
            problems.push(format!(
                "{key}: source address {src} and neighbor {a} are of different families"
            ));
        }
        global.push(p(format!("update-source {src}")));
    }
    if let Some(k) = n.keepalive_time {
        if k == 0 || k > 21845 {
            problems.push(format!("{key}: keepalive {k} is outside 1..21845 seconds"));
        }
        global.push(p(format!("timers {k} {}", k.saturating_mul(3))));
    }
    if !n.graceful_restart.enabled {
        global.push(p("graceful-restart-disable".into()));
    }
    let mut lines = NeighborLines {
        global,
        ..NeighborLines::default()
    };
    let mut families: BTreeSet<Family> = n.families.clone();
    if families.is_empty() {
        families.insert(n.family());
    }
    for f in families {
        let mut af = vec![p("activate".into())];
        if n.role.is_client() {
            if ebgp {
                problems.push(format!(
                    "{key}: an eBGP neighbor (AS {} vs {}) cannot be a route-reflector client",
                    n.remote_as.0, local_as.0
                ));
            }
            af.push(p("route-reflector-client".into()));
        }
        match n.next_hop {
            NextHop::Auto => {}
            NextHop::SetSelf => af.push(p("next-hop-self".into())),
            // An RR keeps the next hop of what it reflects over iBGP.
            NextHop::Keep if !ebgp => {}
            NextHop::Keep => af.push(p("attribute-unchanged next-hop".into())),
        }
        if let Some(k) = n.allow_local_as {
            af.push(p(format!("allowas-in {k}")));
        }
        if let Some(id) = originator {
            af.push(p(format!(
                "route-map {} in",
                originator::route_map_name(id)
            )));
        }
        match f {
            Family::Ipv4 => lines.ipv4 = af,
            Family::Ipv6 => lines.ipv6 = af,
        }
    }
    lines
}

/// Each neighbor's lines as last rendered, by session, with what they
/// were rendered from ([`render_view_reusing`]).
#[derive(Debug, Default)]
pub struct RenderCache {
    rendered: HashMap<PeerKey, Rendered>,
}

#[derive(Debug)]
struct Rendered {
    neighbor: Neighbor,
    local_as: Asn,
    originator: Option<Ipv4Addr>,
    lines: NeighborLines,
}

impl RenderCache {
    /// The lines of `key` if they were rendered from the same inputs.
    fn get(&self, key: &PeerKey, inputs: &NeighborInputs) -> Option<&NeighborLines> {
        self.rendered
            .get(key)
            .filter(|r| {
                r.local_as == inputs.local_as
                    && r.originator == inputs.originator
                    && r.neighbor == *inputs.neighbor
            })
            .map(|r| &r.lines)
    }

    fn keep(&mut self, key: &PeerKey, inputs: &NeighborInputs, lines: &NeighborLines) {
        self.rendered.insert(
            key.clone(),
            Rendered {
                neighbor: inputs.neighbor.clone(),
                local_as: inputs.local_as,
                originator: inputs.originator,
                lines: lines.clone(),
            },
        );
    }

    fn len(&self) -> usize {
        self.rendered.len()
    }

    /// Forget the sessions `desired` no longer has.
    fn retain_only(&mut self, desired: &RrConfig) {
        self.rendered
            .retain(|key, _| desired.neighbors.contains_key(key));
    }
}

/// The configuration file bgpd starts with (and `rrd render` prints).
pub fn file_text(view: &View, desired: &RrConfig) -> String {
    format!(
        "! FRR bgpd configuration written by rrd: {} sessions of route reflector {} in BGP view {}.\n\
         ! Applied to the running bgpd over its vty socket; `vtysh --vty_socket <socket_dir>` shows it.\n\
         frr defaults traditional\n!\n{}!\n",
        desired.neighbors.len(),
        desired.router.router_id,
        view.name,
        view.text()
    )
}

#[cfg(test)]
#[path = "render_tests.rs"]
pub(crate) mod tests;
