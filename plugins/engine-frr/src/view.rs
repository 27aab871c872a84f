//! A BGP view as FRR writes it: the lines of `router bgp <AS> view <name>`
//! grouped by what they configure. Both sides of every comparison use it:
//! [`crate::render`] builds it from an [`rrd_core::RrConfig`],
//! [`View::parse`] reads it back from bgpd's running configuration, and
//! [`crate::delta`] turns two of them into vty commands. Two views are the
//! same when they hold the same lines in each group, whatever their order.
//!
//! The route maps rrd writes (`route-map rrd-...`, top-level blocks that
//! the view's neighbors name, [`crate::originator`]) belong to the view
//! here: rendered, read back and compared with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// The lines of one neighbor, without their indentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NeighborLines {
    /// `neighbor A ...` lines of the view itself (remote-as first).
    pub global: Vec<String>,
    /// Lines under `address-family ipv4 unicast`.
    pub ipv4: Vec<String>,
    /// Lines under `address-family ipv6 unicast`.
    pub ipv6: Vec<String>,
}

impl NeighborLines {
    fn sets(&self) -> [BTreeSet<&str>; 3] {
        [&self.global, &self.ipv4, &self.ipv6].map(|v| v.iter().map(String::as_str).collect())
    }

    /// The same lines in each group, in any order. Lines in the same order
    /// (two renderings, the common case: every apply compares every
    /// neighbor) are compared as they are, without building sets.
    pub fn same_as(&self, other: &NeighborLines) -> bool {
        self == other || self.sets() == other.sets()
    }

    /// The same lines apart from inbound route maps: bgpd changes those on
    /// a running session (route refresh), everything else is a new session.
    pub fn same_session_as(&self, other: &NeighborLines) -> bool {
        if self == other {
            return true;
        }
        fn session(n: &NeighborLines) -> [BTreeSet<&str>; 3] {
            n.sets()
                .map(|s| s.into_iter().filter(|l| !is_inbound_route_map(l)).collect())
        }
        session(self) == session(other)
    }
}

/// `neighbor A route-map NAME in`.
pub fn is_inbound_route_map(line: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    matches!(w.as_slice(), ["neighbor", _, "route-map", _, "in"])
}

/// The name of the route map a `route-map <name> permit <n>` header opens.
pub fn route_map_name(header: &str) -> Option<&str> {
    header.split_whitespace().nth(1)
}

/// The prefix of the names of the route maps rrd writes.
const OWN_ROUTE_MAPS: &str = "route-map rrd-";

/// One `router bgp <asn> view <name>` block.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub asn: u32,
    pub name: String,
    /// `bgp ...` / `no bgp ...` lines of the view.
    pub router: Vec<String>,
    pub neighbors: BTreeMap<IpAddr, NeighborLines>,
    /// Anything else bgpd shows in the view (peer groups, networks, lines
    /// of neighbors that are not addresses): rrd writes none, so any makes
    /// the view differ from what rrd rendered.
    pub other: Vec<String>,
    /// rrd's route maps: `route-map <name> permit <n>` -> the lines under it.
    pub route_maps: BTreeMap<String, Vec<String>>,
}

impl PartialEq for View {
    fn eq(&self, other: &View) -> bool {
        let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        self.asn == other.asn
            && self.name == other.name
            && set(&self.router) == set(&other.router)
            && set(&self.other) == set(&other.other)
            && self.route_maps.len() == other.route_maps.len()
            && self
                .route_maps
                .iter()
                .all(|(h, b)| other.route_maps.get(h).is_some_and(|o| set(b) == set(o)))
            && self.neighbors.len() == other.neighbors.len()
            && self
                .neighbors
                .iter()
                .all(|(a, n)| other.neighbors.get(a).is_some_and(|o| n.same_as(o)))
    }
}

impl Eq for View {}

/// The address a `neighbor <A> ...` line is about, if it is an address.
fn neighbor_address(line: &str) -> Option<IpAddr> {
    let mut words = line.split_whitespace();
    (words.next()? == "neighbor").then_some(())?;
    words.next()?.parse().ok()
}

impl View {
    /// The route maps its neighbors name inbound.
    pub fn named_route_maps(&self) -> BTreeSet<&str> {
        self.neighbors
            .values()
            .flat_map(|n| n.ipv4.iter().chain(&n.ipv6))
            .filter(|l| is_inbound_route_map(l))
            .filter_map(|l| l.split_whitespace().nth(3))
            .collect()
    }

    /// The `router bgp ... view ...` line.
    pub fn header(&self) -> String {
        format!("router bgp {} view {}", self.asn, self.name)
    }

    /// The view as configuration text, FRR's layout: view lines, then
    /// every neighbor's lines, then one block per address family. rrd's
    /// route maps come first (FRR prints them after the view): bgpd
    /// loading a file resolves a neighbor's route map when it reads the
    /// neighbor line, and one it does not know yet denies every route of
    /// that neighbor until bgpd's route-map timer catches up, seconds
    /// later.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (header, body) in &self.route_maps {
            let _ = writeln!(out, "{header}");
            for l in body {
                let _ = writeln!(out, " {l}");
            }
            out += "exit\n!\n";
        }
        let _ = writeln!(out, "{}", self.header());
        for l in &self.router {
            let _ = writeln!(out, " {l}");
        }
        for n in self.neighbors.values() {
            for l in &n.global {
                let _ = writeln!(out, " {l}");
            }
        }
        for l in &self.other {
            let _ = writeln!(out, " {l}");
        }
        for (af, pick) in [
            (
                "ipv4 unicast",
                (|n| &n.ipv4) as fn(&NeighborLines) -> &Vec<String>,
            ),
            ("ipv6 unicast", |n| &n.ipv6),
        ] {
            let lines: Vec<&String> = self.neighbors.values().flat_map(pick).collect();
            if lines.is_empty() {
                continue;
            }
            let _ = writeln!(out, " !\n address-family {af}");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
            out += " exit-address-family\n";
        }
        out += "exit\n";
        out
    }

    /// rrd's route maps in a running configuration.
    fn parse_route_maps(running: &str) -> BTreeMap<String, Vec<String>> {
        let mut maps = BTreeMap::new();
        let mut current: Option<&mut Vec<String>> = None;
        for line in running.lines() {
            if !line.starts_with(' ') {
                current = None;
                if line.starts_with(OWN_ROUTE_MAPS) {
                    current = Some(maps.entry(line.trim().to_owned()).or_default());
                }
                continue;
            }
            let l = line.trim();
            if let Some(body) = current.as_mut().filter(|_| !l.is_empty() && l != "!") {
                body.push(l.to_owned());
            }
        }
        maps
    }

    /// The view `name` in a running configuration (`show running-config`),
    /// if bgpd has it.
    pub fn parse(running: &str, name: &str) -> Option<View> {
        let mut lines = running.lines();
        let asn = lines.by_ref().find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["router", "bgp", asn, "view", n] if *n == name && !l.starts_with(' ') => {
                    asn.parse().ok()
                }
                _ => None,
            }
        })?;
        let mut view = View {
            asn,
            name: name.to_owned(),
            route_maps: View::parse_route_maps(running),
            ..View::default()
        };
        let mut family: Option<&str> = None;
        for line in lines {
            if !line.starts_with(' ') {
                if line.trim() == "!" {
                    continue;
                }
                break; // `exit`, or the next top-level block
            }
            let l = line.trim();
            if l == "!" || l.is_empty() {
                continue;
            }
            if let Some(af) = l.strip_prefix("address-family ") {
                family = Some(match af {
                    "ipv4 unicast" | "ipv4" => "ipv4",
                    "ipv6 unicast" | "ipv6" => "ipv6",
                    _ => "other",
                });
                if family == Some("other") {
                    view.other.push(l.to_owned());
                }
                continue;
            }
            if l == "exit-address-family" {
                family = None;
                continue;
            }
            let address = neighbor_address(l);
            match (family, address) {
                (None, Some(a)) => view.neighbors.entry(a).or_default().global.push(l.into()),
                (Some("ipv4"), Some(a)) => view.neighbors.entry(a).or_default().ipv4.push(l.into()),
                (Some("ipv6"), Some(a)) => view.neighbors.entry(a).or_default().ipv6.push(l.into()),
                (None, None) if l.starts_with("bgp ") || l.starts_with("no bgp ") => {
                    view.router.push(l.into())
                }
                _ => view.other.push(format!("{} {l}", family.unwrap_or("view"))),
            }
        }
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "frr version 8.4.4
frr defaults traditional
!
hostname vm
!
bgp no-rib
router bgp 64512 view rrd
 bgp router-id 198.51.100.1
 no bgp default ipv4-unicast
 bgp graceful-restart
 neighbor 198.51.100.2 remote-as 64512
 neighbor 198.51.100.2 description Node_198_51_100_2
 neighbor 2001:db8::2 remote-as 64512
 !
 address-family ipv4 unicast
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.2 route-reflector-client
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8::2 activate
 exit-address-family
exit
!
router bgp 65000 view other
 neighbor 192.0.2.1 remote-as 65000
exit
!
end
";

    #[test]
    fn a_view_is_read_back_grouped_by_neighbor_and_family() {
        let v = View::parse(RUNNING, "rrd").unwrap();
        assert_eq!(v.asn, 64512);
        assert_eq!(
            v.router,
            [
                "bgp router-id 198.51.100.1",
                "no bgp default ipv4-unicast",
                "bgp graceful-restart"
            ]
        );
        let n = &v.neighbors[&"198.51.100.2".parse::<IpAddr>().unwrap()];
        assert_eq!(n.global.len(), 2);
        assert_eq!(
            n.ipv4,
            [
                "neighbor 198.51.100.2 activate",
                "neighbor 198.51.100.2 route-reflector-client"
            ]
        );
        assert_eq!(
            v.neighbors.len(),
            2,
            "the other view's neighbor is not ours"
        );
        assert!(v.other.is_empty(), "{:?}", v.other);
        assert!(View::parse(RUNNING, "absent").is_none());
    }

    #[test]
    fn the_text_of_a_view_parses_back_to_the_same_view() {
        let v = View::parse(RUNNING, "rrd").unwrap();
        let again = View::parse(&v.text(), "rrd").unwrap();
        assert_eq!(v, again);
    }

    #[test]
    fn order_does_not_matter_but_a_line_does() {
        let v = View::parse(RUNNING, "rrd").unwrap();
        let mut w = v.clone();
        w.router.reverse();
        assert_eq!(v, w);
        w.neighbors
            .values_mut()
            .next()
            .unwrap()
            .global
            .push("neighbor 198.51.100.2 passive".into());
        assert_ne!(v, w);
    }

    #[test]
    fn rrds_route_maps_are_read_back_with_the_view() {
        let text = RUNNING.replace(
            "  neighbor 198.51.100.2 route-reflector-client\n",
            "  neighbor 198.51.100.2 route-reflector-client\n  neighbor 198.51.100.2 route-map rrd-originator-198.51.100.2 in\n",
        ) + "route-map rrd-originator-198.51.100.2 permit 10\n set originator-id 198.51.100.2\nexit\n!\nroute-map other permit 10\n set metric 5\nexit\n!\n";
        let v = View::parse(&text, "rrd").unwrap();
        assert_eq!(
            v.route_maps.into_iter().collect::<Vec<_>>(),
            [(
                "route-map rrd-originator-198.51.100.2 permit 10".to_owned(),
                vec!["set originator-id 198.51.100.2".to_owned()]
            )],
            "only rrd's route maps"
        );
        let v = View::parse(&text, "rrd").unwrap();
        assert_eq!(View::parse(&v.text(), "rrd").unwrap(), v);
        let mut w = v.clone();
        w.route_maps.values_mut().next().unwrap()[0] = "set originator-id 198.18.0.1".into();
        assert_ne!(v, w);
        let n = &v.neighbors[&"198.51.100.2".parse::<IpAddr>().unwrap()];
        let plain = &View::parse(RUNNING, "rrd").unwrap().neighbors
            [&"198.51.100.2".parse::<IpAddr>().unwrap()];
        assert!(n.same_session_as(plain) && !n.same_as(plain));
    }

    #[test]
    fn lines_rrd_does_not_write_make_a_view_differ() {
        let text = RUNNING.replace(
            " neighbor 2001:db8::2 remote-as 64512\n",
            " neighbor 2001:db8::2 remote-as 64512\n neighbor clients peer-group\n",
        );
        let v = View::parse(&text, "rrd").unwrap();
        assert_eq!(v.other, ["view neighbor clients peer-group"]);
        assert_ne!(v, View::parse(RUNNING, "rrd").unwrap());
    }
}
