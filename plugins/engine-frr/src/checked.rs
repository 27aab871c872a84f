//! The check before an apply, remembered (pure): the shapes of neighbor
//! and route-map lines that bgpd's own check (`bgpd -C`) accepted under
//! the view's current router lines, so that a change made of shapes bgpd
//! already accepted is not checked again.
//!
//! Why: `bgpd -C` is a process that loads FRR's whole command tree before
//! it reads a line (40-70 ms on the 2-vCPU test VM whatever the file
//! holds), several times bgpd's own cost of adding a session (about 1 ms
//! for a `neighbor ... remote-as` at 2,099 neighbors). The sessions of one
//! route reflector are nearly all alike: a new client's lines are the last
//! one's with another address, session name and route map.
//!
//! A shape is a neighbor's (or one of rrd's route maps') lines with every
//! address replaced by its family, the description (the session name) by a
//! placeholder and the address in `rrd-originator-<id>` by its family;
//! everything else (AS numbers, timers, passwords, ports, hop counts) stays
//! as written. A neighbor whose lines hold an address that is not an
//! ordinary unicast one (loopback, link-local, multicast, unspecified,
//! broadcast, mapped) has no shape: it is always checked. The shapes are
//! forgotten when the view's AS, name or router lines change, and when more
//! than [`MAX_SHAPES`] were accepted.
//!
//! Why it is sound: bgpd's `-C` run has no interfaces (`-Z`, no zebra) and
//! sees the neighbors one by one, each in the view with the router lines;
//! what it refuses depends on the words of a line, the address's family
//! and the view, not on which ordinary address it is. If bgpd still
//! refuses a command, the engine undoes what it applied and rejects the
//! apply, as for any refusal.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::view::{route_map_name, NeighborLines, View};

/// At most this many shapes are kept (rrd's sessions have a handful).
pub const MAX_SHAPES: usize = 256;

/// What bgpd accepted, under which view.
#[derive(Clone, Debug, Default)]
pub struct CheckedShapes {
    /// AS, name and sorted router lines of the view the shapes were
    /// checked in.
    view: Option<(u32, String, Vec<String>)>,
    shapes: HashSet<String>,
}

fn view_key(v: &View) -> (u32, String, Vec<String>) {
    let mut router = v.router.clone();
    router.sort();
    (v.asn, v.name.clone(), router)
}

/// Whether `a` is an ordinary unicast address (the only ones shaped).
fn ordinary(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local())
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_unicast_link_local()
                || a.to_ipv4_mapped().is_some())
        }
    }
}

/// One address as its family, `None` when it is not an ordinary one.
fn family(word: &str) -> Option<Option<&'static str>> {
    let a: IpAddr = match word.parse() {
        Ok(a) => a,
        Err(_) => return Some(None),
    };
    if !ordinary(a) {
        return None;
    }
    Some(Some(if a.is_ipv4() { "<ipv4>" } else { "<ipv6>" }))
}

/// One line's shape; `None` when it holds an address that is not
/// ordinary.
fn line_shape(line: &str) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    for w in line.split_whitespace() {
        if w == "description" && out.len() == 2 && out[0] == "neighbor" {
            out.push("description <text>".into());
            break;
        }
        if let Some(f) = family(w)? {
            out.push(f.into());
            continue;
        }
        match w.rsplit_once('-') {
            Some((name, id)) if name.starts_with("rrd-") => match family(id)? {
                Some(f) => out.push(format!("{name}-{f}")),
                None => out.push(w.into()),
            },
            _ => out.push(w.into()),
        }
    }
    Some(out.join(" "))
}

/// The lines' shapes, sorted (order does not matter to bgpd), under a tag.
fn shape<'a>(tag: &str, lines: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let mut shaped = lines
        .into_iter()
        .map(|l| line_shape(l))
        .collect::<Option<Vec<_>>>()?;
    shaped.sort();
    Some(format!("{tag}\n{}", shaped.join("\n")))
}

fn neighbor_shape(n: &NeighborLines) -> Option<String> {
    let parts = [
        shape("global", &n.global)?,
        shape("ipv4", &n.ipv4)?,
        shape("ipv6", &n.ipv6)?,
    ];
    Some(parts.join("\n"))
}

fn route_map_shape(header: &str, body: &[String]) -> Option<String> {
    shape(
        &format!("route-map {}", line_shape(header)?),
        body.iter().collect::<Vec<_>>(),
    )
}

/// The shapes of what `changed` configures: its neighbors and route maps.
fn shapes_of(changed: &View) -> Vec<Option<String>> {
    changed
        .neighbors
        .values()
        .map(neighbor_shape)
        .chain(
            changed
                .route_maps
                .iter()
                .map(|(h, b)| route_map_shape(h, b)),
        )
        .collect()
}

impl CheckedShapes {
    fn same_view(&self, v: &View) -> bool {
        self.view.as_ref() == Some(&view_key(v))
    }

    /// What of `changed` (the view's lines plus the neighbors and route
    /// maps an apply (re)configures) bgpd must check: one neighbor and one
    /// route map of each shape it has not accepted yet, and the route maps
    /// those neighbors name (so that the file bgpd checks defines them);
    /// `None` when it accepted every shape of `changed`. One of a shape
    /// stands for all: besides, bgpd loads route maps from a file in time
    /// that grows much faster than their count (100: 0.6 s, 200: 3.1 s,
    /// 400: 43 s on the test VM), so a change of a thousand clients
    /// checked whole would take minutes.
    pub fn unchecked(&self, changed: &View) -> Option<View> {
        let same = self.same_view(changed);
        let mut picked = HashSet::new();
        let mut fresh = |shape: Option<String>| match shape {
            None => true,
            Some(s) => !(same && self.shapes.contains(&s)) && picked.insert(s),
        };
        let neighbors: BTreeMap<IpAddr, NeighborLines> = changed
            .neighbors
            .iter()
            .filter(|(_, n)| fresh(neighbor_shape(n)))
            .map(|(a, n)| (*a, n.clone()))
            .collect();
        let mut check = View {
            neighbors,
            route_maps: BTreeMap::new(),
            ..changed.clone()
        };
        let named = check.named_route_maps();
        let route_maps = changed
            .route_maps
            .iter()
            .filter(|(h, b)| {
                // A named one stands for its shape too.
                let new_shape = fresh(route_map_shape(h, b));
                route_map_name(h).is_some_and(|m| named.contains(m)) || new_shape
            })
            .map(|(h, b)| (h.clone(), b.clone()))
            .collect();
        check.route_maps = route_maps;
        if check.neighbors.is_empty() && check.route_maps.is_empty() {
            return None;
        }
        Some(check)
    }

    /// bgpd accepted `checked`: remember its shapes.
    pub fn accepted(&mut self, checked: &View) {
        if !self.same_view(checked) {
            self.view = Some(view_key(checked));
            self.shapes.clear();
        }
        let shapes: Vec<String> = shapes_of(checked).into_iter().flatten().collect();
        if self.shapes.len() + shapes.len() > MAX_SHAPES {
            self.shapes.clear();
        }
        self.shapes.extend(shapes);
    }

    /// Forget everything (bgpd refused something the shapes let through).
    pub fn forget(&mut self) {
        *self = CheckedShapes::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> View {
        View::parse(&format!("{text}exit\n"), "rrd").unwrap()
    }

    fn client(a: &str, id: &str) -> String {
        let name = a.replace(['.', ':'], "_");
        [
            format!("route-map rrd-originator-{id} permit 10"),
            format!(" set originator-id {id}"),
            "exit".into(),
            "router bgp 64512 view rrd".into(),
            " bgp router-id 198.51.100.1".into(),
            format!(" neighbor {a} remote-as 64512"),
            format!(" neighbor {a} description Node_{name}"),
            " address-family ipv4 unicast".into(),
            format!("  neighbor {a} activate"),
            format!("  neighbor {a} route-reflector-client"),
            format!("  neighbor {a} route-map rrd-originator-{id} in"),
            " exit-address-family".into(),
        ]
        .map(|l| l + "\n")
        .concat()
    }

    #[test]
    fn a_client_like_an_accepted_one_needs_no_check() {
        let mut c = CheckedShapes::default();
        let first = view(&client("198.51.100.10", "198.51.100.10"));
        assert_eq!(c.unchecked(&first).as_ref(), Some(&first));
        c.accepted(&first);
        assert_eq!(c.unchecked(&first), None);
        let second = view(&client("198.51.100.11", "198.51.100.11"));
        assert_eq!(c.unchecked(&second), None);
    }

    #[test]
    fn other_words_another_family_or_another_view_are_checked() {
        let mut c = CheckedShapes::default();
        c.accepted(&view(&client("198.51.100.10", "198.51.100.10")));
        let other_as =
            client("198.51.100.11", "198.51.100.11").replace("remote-as 64512", "remote-as 64513");
        assert!(c.unchecked(&view(&other_as)).is_some());
        let v6 = view(&client("2001:db8::11", "198.51.100.11"));
        let unchecked = c.unchecked(&v6).expect("an IPv6 neighbor is another shape");
        assert_eq!(unchecked.neighbors.len(), 1);
        // Its route map has a known shape but stays: the neighbor names it.
        assert_eq!(unchecked.route_maps.len(), 1);
        let other_router = client("198.51.100.11", "198.51.100.11")
            .replace("bgp router-id 198.51.100.1", "bgp router-id 198.51.100.2");
        assert!(c.unchecked(&view(&other_router)).is_some());
    }

    #[test]
    fn addresses_that_are_not_ordinary_have_no_shape() {
        let mut c = CheckedShapes::default();
        let odd = view(&client("127.0.0.2", "127.0.0.2"));
        c.accepted(&odd);
        assert!(c.unchecked(&odd).is_some());
        assert_eq!(line_shape("neighbor fe80::1 remote-as 1"), None);
        assert_eq!(
            line_shape("neighbor 198.51.100.1 description Node 1 x").as_deref(),
            Some("neighbor <ipv4> description <text>")
        );
    }

    #[test]
    fn only_the_new_shapes_of_a_change_are_left_to_check() {
        let mut c = CheckedShapes::default();
        c.accepted(&view(&client("198.51.100.10", "198.51.100.10")));
        let mut two = view(&client("198.51.100.11", "198.51.100.11"));
        let other = view(
            &client("198.51.100.12", "198.51.100.12").replace("remote-as 64512", "remote-as 65000"),
        );
        two.neighbors.extend(other.neighbors);
        two.route_maps.extend(other.route_maps);
        let left = c.unchecked(&two).unwrap();
        assert_eq!(
            left.neighbors.keys().copied().collect::<Vec<_>>(),
            vec!["198.51.100.12".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            left.route_maps.keys().cloned().collect::<Vec<_>>(),
            vec!["route-map rrd-originator-198.51.100.12 permit 10".to_owned()]
        );
    }

    #[test]
    fn one_client_of_each_new_shape_is_checked() {
        let c = CheckedShapes::default();
        let mut many = view(&client("198.51.100.10", "198.51.100.10"));
        for i in 11..40 {
            let a = format!("198.51.100.{i}");
            let v = view(&client(&a, &a));
            many.neighbors.extend(v.neighbors);
            many.route_maps.extend(v.route_maps);
        }
        let left = c.unchecked(&many).unwrap();
        assert_eq!(left.neighbors.len(), 1, "{left:?}");
        assert_eq!(left.route_maps.len(), 1, "{left:?}");
        let named = left.named_route_maps();
        assert!(left
            .route_maps
            .keys()
            .all(|h| route_map_name(h).is_some_and(|m| named.contains(m))));
    }

    #[test]
    fn forgetting_checks_everything_again() {
        let mut c = CheckedShapes::default();
        let v = view(&client("198.51.100.10", "198.51.100.10"));
        c.accepted(&v);
        c.forget();
        assert!(c.unchecked(&v).is_some());
    }
}
