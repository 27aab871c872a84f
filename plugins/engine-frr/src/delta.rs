//! Apply, first half (pure): the vty commands that take bgpd's view from
//! what it holds to what is desired, touching only what differs.
//!
//! * No view yet: create it whole.
//! * Another AS: `no router bgp <old> view <name>` (every session of the
//!   view ends), then create it whole.
//! * View lines (router id, cluster id, graceful restart) that differ:
//!   `no <line>` for the old, `<line>` for the new.
//! * A neighbor that goes: `no neighbor <A>`.
//! * A neighbor whose lines differ: `no neighbor <A>`, then its new lines
//!   (FRR resets the session for most of these changes anyway; the other
//!   sessions are untouched).
//! * A neighbor that comes: its lines.
//!
//! Commands are given inside `configure terminal`; the engine adds that
//! and `end`.

use crate::view::{NeighborLines, View};

/// The negation of a configuration line.
fn negate(line: &str) -> String {
    match line.strip_prefix("no ") {
        Some(rest) => rest.to_owned(),
        None => format!("no {line}"),
    }
}

fn add_neighbor_lines<'a>(
    out: &mut Vec<String>,
    neighbors: impl Iterator<Item = &'a NeighborLines> + Clone,
) {
    for n in neighbors.clone() {
        out.extend(n.global.iter().cloned());
    }
    for (af, pick) in [
        (
            "ipv4 unicast",
            (|n| &n.ipv4) as fn(&NeighborLines) -> &Vec<String>,
        ),
        ("ipv6 unicast", |n| &n.ipv6),
    ] {
        let lines: Vec<String> = neighbors.clone().flat_map(pick).cloned().collect();
        if !lines.is_empty() {
            out.push(format!("address-family {af}"));
            out.extend(lines);
            out.push("exit-address-family".into());
        }
    }
}

fn create(desired: &View) -> Vec<String> {
    let mut out = vec![desired.header()];
    out.extend(desired.router.iter().cloned());
    add_neighbor_lines(&mut out, desired.neighbors.values());
    out.push("exit".into());
    out
}

/// The commands that turn `live` (`None`: no view) into `desired`; empty
/// when they are the same.
pub fn commands(live: Option<&View>, desired: &View) -> Vec<String> {
    let Some(live) = live else {
        return create(desired);
    };
    if live == desired {
        return Vec::new();
    }
    if live.asn != desired.asn || !live.other.is_empty() {
        // Another AS cannot be changed in place; lines rrd does not write
        // (peer groups, networks) are only removed with the view.
        let mut out = vec![format!("no {}", live.header())];
        out.extend(create(desired));
        return out;
    }
    let mut out = vec![desired.header()];
    let gone = live
        .neighbors
        .iter()
        .filter(|(a, n)| desired.neighbors.get(a).is_none_or(|d| !d.same_as(n)));
    out.extend(gone.map(|(a, _)| format!("no neighbor {a}")));
    out.extend(
        live.router
            .iter()
            .filter(|l| !desired.router.contains(l))
            .map(|l| negate(l)),
    );
    out.extend(
        desired
            .router
            .iter()
            .filter(|l| !live.router.contains(l))
            .cloned(),
    );
    let coming = desired
        .neighbors
        .iter()
        .filter(|(a, n)| live.neighbors.get(a).is_none_or(|l| !l.same_as(n)))
        .map(|(_, n)| n);
    add_neighbor_lines(&mut out, coming);
    out.push("exit".into());
    if out.len() == 2 {
        return Vec::new();
    }
    out
}

/// The neighbors (by address) whose lines `commands(live, desired)`
/// (re)configures, for the check before an apply.
pub fn changed_neighbors(live: Option<&View>, desired: &View) -> View {
    let mut v = View {
        neighbors: Default::default(),
        other: Vec::new(),
        ..desired.clone()
    };
    for (a, n) in &desired.neighbors {
        let same = live
            .filter(|l| l.asn == desired.asn)
            .and_then(|l| l.neighbors.get(a))
            .is_some_and(|l| l.same_as(n));
        if !same {
            v.neighbors.insert(*a, n.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> View {
        View::parse(&format!("router bgp 64512 view rrd\n{text}exit\n"), "rrd").unwrap()
    }

    const BASE: &str = " bgp router-id 198.51.100.1
 bgp graceful-restart
 neighbor 198.51.100.2 remote-as 64512
 neighbor 198.51.100.3 remote-as 64512
 address-family ipv4 unicast
  neighbor 198.51.100.2 activate
  neighbor 198.51.100.3 activate
 exit-address-family
";

    #[test]
    fn the_same_view_needs_no_command() {
        assert!(commands(Some(&view(BASE)), &view(BASE)).is_empty());
    }

    #[test]
    fn no_view_is_created_whole() {
        let c = commands(None, &view(BASE));
        assert_eq!(c.first().unwrap(), "router bgp 64512 view rrd");
        assert_eq!(c.last().unwrap(), "exit");
        assert!(c.contains(&"neighbor 198.51.100.3 activate".to_owned()));
        assert!(c.contains(&"address-family ipv4 unicast".to_owned()));
    }

    #[test]
    fn only_the_neighbors_that_differ_are_touched() {
        let desired = view(
            &BASE
                .replace(
                    " neighbor 198.51.100.3 remote-as 64512\n",
                    " neighbor 198.51.100.3 remote-as 64513\n neighbor 198.51.100.4 remote-as 64512\n",
                )
                .replace(
                    "  neighbor 198.51.100.3 activate\n",
                    "  neighbor 198.51.100.3 activate\n  neighbor 198.51.100.4 activate\n",
                )
                .replace(" neighbor 198.51.100.2 remote-as 64512\n", "")
                .replace("  neighbor 198.51.100.2 activate\n", ""),
        );
        let c = commands(Some(&view(BASE)), &desired);
        assert_eq!(
            c,
            [
                "router bgp 64512 view rrd",
                "no neighbor 198.51.100.2",
                "no neighbor 198.51.100.3",
                "neighbor 198.51.100.3 remote-as 64513",
                "neighbor 198.51.100.4 remote-as 64512",
                "address-family ipv4 unicast",
                "neighbor 198.51.100.3 activate",
                "neighbor 198.51.100.4 activate",
                "exit-address-family",
                "exit",
            ]
        );
        let check = changed_neighbors(Some(&view(BASE)), &desired);
        assert_eq!(check.neighbors.len(), 2, "{check:?}");
    }

    #[test]
    fn view_lines_are_negated_and_added() {
        let desired = view(&BASE.replace(
            " bgp graceful-restart\n",
            " bgp graceful-restart restart-time 90\n bgp graceful-restart\n no bgp default ipv4-unicast\n",
        ));
        let live = view(&BASE.replace(
            " bgp router-id 198.51.100.1\n",
            " bgp router-id 198.51.100.1\n bgp cluster-id 1.0.0.1\n",
        ));
        assert_eq!(
            commands(Some(&live), &desired),
            [
                "router bgp 64512 view rrd",
                "no bgp cluster-id 1.0.0.1",
                "bgp graceful-restart restart-time 90",
                "no bgp default ipv4-unicast",
                "exit",
            ]
        );
        assert_eq!(
            negate("no bgp default ipv4-unicast"),
            "bgp default ipv4-unicast"
        );
    }

    #[test]
    fn another_as_replaces_the_view() {
        let live = View::parse(&format!("router bgp 65000 view rrd\n{BASE}exit\n"), "rrd").unwrap();
        let c = commands(Some(&live), &view(BASE));
        assert_eq!(c[0], "no router bgp 65000 view rrd");
        assert_eq!(c[1], "router bgp 64512 view rrd");
    }
}
