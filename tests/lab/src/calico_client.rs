//! A BGP client that behaves like a Calico node: BIRD 1.6 (Calico's BIRD,
//! the default) or BIRD 2 with graceful restart, a static blackhole route for
//! its address block, `next hop self`, and a kernel protocol so that routes
//! learned from the RRs reach the namespace's routing table.
//!
//! The two differ where a migration's tests look: when a route's attributes
//! change, BIRD 1.6's kernel protocol deletes the kernel route and adds it
//! again, BIRD 2's replaces an IPv4 route in place.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use crate::lab::{Host, Lab};
use crate::process::Process;
use crate::{bins, poll};

/// The block a lab host advertises: 203.0.113.`4*index`/30... rather a /32
/// per host would be too small to look real, so hosts advertise
/// 203.0.113.0/24 split by index into /30s (64 hosts max).
pub fn block_of(index: u8) -> String {
    assert!(index < 64, "203.0.113.0/24 holds 64 /30 blocks");
    format!("203.0.113.{}/30", u16::from(index) * 4)
}

/// BIRD 1.6 configuration of a Calico-like node peering with `rrs`.
pub fn bird16_config(host: &Host, asn: u32, rrs: &[Ipv4Addr]) -> String {
    bird16_config_with(host, asn, rrs, true)
}

/// How a Calico-like client's BIRD is configured beyond its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// `graceful restart` on the BGP sessions (without: BIRD's default
    /// `aware`, a capability with no address family, which protects none
    /// of the RR's routes).
    pub graceful_restart: bool,
    /// The BGP identifier (`router id`); `None`: the host's IPv4 address,
    /// as a Calico node has it unless told otherwise.
    pub router_id: Option<Ipv4Addr>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            graceful_restart: true,
            router_id: None,
        }
    }
}

/// [`bird16_config`], with or without `graceful restart` on the BGP
/// sessions.
pub fn bird16_config_with(
    host: &Host,
    asn: u32,
    rrs: &[Ipv4Addr],
    graceful_restart: bool,
) -> String {
    let options = ClientOptions {
        graceful_restart,
        ..ClientOptions::default()
    };
    bird16_config_of(host, asn, rrs, &options)
}

/// [`bird16_config`] as `options` say.
pub fn bird16_config_of(
    host: &Host,
    asn: u32,
    rrs: &[Ipv4Addr],
    options: &ClientOptions,
) -> String {
    let me = host.ipv4;
    let router_id = options.router_id.unwrap_or(me);
    let block = block_of(host.index);
    let gr = if options.graceful_restart {
        "  graceful restart;\n"
    } else {
        ""
    };
    let mut cfg = format!(
        "router id {router_id};\n\
         protocol device {{ scan time 2; }}\n\
         protocol direct {{ interface \"eth0\"; }}\n\
         protocol kernel {{\n  persist;\n  scan time 2;\n  import none;\n  export where source = RTS_BGP;\n  graceful restart;\n}}\n\
         protocol static own_block {{ route {block} blackhole; }}\n\
         filter export_block {{ if net = {block} then accept; reject; }}\n\
         template bgp rr_peer {{\n  local as {asn};\n  multihop;\n  gateway recursive;\n  import all;\n  export filter export_block;\n  next hop self;\n  source address {me};\n{gr}  connect delay time 1;\n  connect retry time 2;\n  error wait time 1,5;\n}}\n"
    );
    for rr in rrs {
        let name = rr.to_string().replace('.', "_");
        cfg += &format!("protocol bgp Rr_{name} from rr_peer {{ neighbor {rr} as {asn}; }}\n");
    }
    cfg
}

/// Which BIRD a client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBird {
    /// BIRD 1.6, as Calico's node image ships it.
    V1_6,
    /// BIRD 2.
    V2,
}

impl ClientBird {
    fn bird(self) -> PathBuf {
        match self {
            ClientBird::V1_6 => bins::bird16(),
            ClientBird::V2 => bins::bird2(),
        }
    }

    fn birdc(self) -> PathBuf {
        match self {
            ClientBird::V1_6 => bins::birdc16(),
            ClientBird::V2 => bins::birdc2(),
        }
    }

    /// "BIRD 1.6" / "BIRD 2", for messages.
    pub fn label(self) -> &'static str {
        match self {
            ClientBird::V1_6 => "BIRD 1.6",
            ClientBird::V2 => "BIRD 2",
        }
    }
}

/// BIRD 2 configuration of the node [`bird16_config_with`] describes, with
/// graceful restart.
pub fn bird2_config(host: &Host, asn: u32, rrs: &[Ipv4Addr]) -> String {
    let me = host.ipv4;
    let block = block_of(host.index);
    let mut cfg = format!(
        "router id {me};\n\
         protocol device {{ scan time 2; }}\n\
         protocol direct {{ ipv4; interface \"eth0\"; }}\n\
         protocol kernel {{\n  ipv4 {{ import none; export where source = RTS_BGP; }};\n  persist;\n  scan time 2;\n  graceful restart;\n}}\n\
         protocol static own_block {{ ipv4; route {block} blackhole; }}\n\
         filter export_block {{ if net = {block} then accept; reject; }}\n\
         template bgp rr_peer {{\n  local as {asn};\n  multihop;\n  source address {me};\n  graceful restart;\n  connect delay time 1;\n  connect retry time 2;\n  error wait time 1,5;\n  ipv4 {{ gateway recursive; import all; export filter export_block; next hop self; }};\n}}\n"
    );
    for rr in rrs {
        let name = rr.to_string().replace('.', "_");
        cfg += &format!("protocol bgp Rr_{name} from rr_peer {{ neighbor {rr} as {asn}; }}\n");
    }
    cfg
}

/// A running Calico-like client.
#[derive(Debug)]
pub struct CalicoClient {
    pub host: Host,
    pub bird: ClientBird,
    pub block: String,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub process: Process,
}

impl CalicoClient {
    pub fn start(lab: &Lab, host: &Host, asn: u32, rrs: &[Ipv4Addr]) -> CalicoClient {
        Self::start_with(lab, host, asn, rrs, true)
    }

    /// [`CalicoClient::start`], with or without graceful restart.
    pub fn start_with(
        lab: &Lab,
        host: &Host,
        asn: u32,
        rrs: &[Ipv4Addr],
        graceful_restart: bool,
    ) -> CalicoClient {
        let options = ClientOptions {
            graceful_restart,
            ..ClientOptions::default()
        };
        Self::start_with_options(lab, host, asn, rrs, &options)
    }

    /// A BIRD 1.6 client configured as `options` say.
    pub fn start_with_options(
        lab: &Lab,
        host: &Host,
        asn: u32,
        rrs: &[Ipv4Addr],
        options: &ClientOptions,
    ) -> CalicoClient {
        let text = bird16_config_of(host, asn, rrs, options);
        Self::start_bird(lab, host, ClientBird::V1_6, &text)
    }

    /// A client that runs `bird` (graceful restart on).
    pub fn start_on(
        lab: &Lab,
        host: &Host,
        bird: ClientBird,
        asn: u32,
        rrs: &[Ipv4Addr],
    ) -> CalicoClient {
        let text = match bird {
            ClientBird::V1_6 => bird16_config(host, asn, rrs),
            ClientBird::V2 => bird2_config(host, asn, rrs),
        };
        Self::start_bird(lab, host, bird, &text)
    }

    fn start_bird(lab: &Lab, host: &Host, bird: ClientBird, text: &str) -> CalicoClient {
        let config = lab.path(&format!("{}.conf", host.name));
        let socket = lab.path(&format!("{}.ctl", host.name));
        std::fs::write(&config, text).expect("write client config");
        let check = Command::new(bird.bird())
            .arg("-p")
            .arg("-c")
            .arg(&config)
            .output()
            .expect("bird -p");
        assert!(
            check.status.success(),
            "client config rejected: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let process = host.spawn(
            &format!("{} {}", bird.bird().display(), host.name),
            bird.bird(),
            &[
                "-f",
                "-c",
                config.to_str().unwrap(),
                "-s",
                socket.to_str().unwrap(),
            ],
            lab.path(&format!("{}.log", host.name)),
        );
        CalicoClient {
            host: host.clone(),
            bird,
            block: block_of(host.index),
            socket,
            config,
            process,
        }
    }

    /// Run a command on the client's BIRD control socket.
    pub fn birdc(&self, command: &str) -> String {
        birdc(&self.bird.birdc(), &self.socket, command)
    }

    /// Wait until the kernel table holds every prefix of `want`.
    pub fn wait_for_routes(&self, want: &[String], timeout: std::time::Duration) {
        poll::until(
            &format!("{} to learn {want:?}", self.host.name),
            timeout,
            || {
                let have = self.host.bird_routes();
                if want.iter().all(|p| have.contains(p)) {
                    Ok(())
                } else {
                    Err(format!(
                        "kernel routes: {have:?}\nprotocols:\n{}",
                        self.birdc("show protocols")
                    ))
                }
            },
        );
    }

    /// The client's BGP sessions: protocol name -> info column
    /// (`Established`, `Active  Socket: Connection refused`, ...).
    pub fn bgp_sessions(&self) -> BTreeMap<String, String> {
        self.birdc("show protocols")
            .lines()
            .filter_map(|l| {
                let cols: Vec<_> = l.split_whitespace().collect();
                (cols.get(1) == Some(&"BGP")).then(|| {
                    (
                        cols[0].to_owned(),
                        cols.get(5..).map(|c| c.join(" ")).unwrap_or_default(),
                    )
                })
            })
            .collect()
    }

    /// BGP attributes of the best route to `prefix`, as BIRD shows them.
    pub fn route_attributes(&self, prefix: &str) -> RouteAttributes {
        RouteAttributes::parse(&self.birdc(&format!("show route all {prefix}")))
    }

    /// Every path to `prefix` the client holds (one per RR), best first.
    pub fn route_paths(&self, prefix: &str) -> Vec<RoutePath> {
        parse_paths(&self.birdc(&format!("show route all {prefix}")))
    }
}

/// The attributes that show which RR reflected a route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteAttributes {
    pub next_hop: Option<String>,
    pub originator_id: Option<String>,
    pub cluster_list: Option<String>,
    pub as_path: Option<String>,
    /// MULTI_EXIT_DISC, when the route carries one (`BGP.med`).
    pub med: Option<String>,
}

impl RouteAttributes {
    /// The attributes of the best path in `show route all` output (BIRD
    /// lists it first).
    pub fn parse(text: &str) -> Self {
        parse_paths(text)
            .into_iter()
            .next()
            .map(|p| p.attributes)
            .unwrap_or_default()
    }
}

/// One path of `show route all <prefix>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutePath {
    /// The protocol it was learned from (`Rr_198_51_100_11`).
    pub from: String,
    pub attributes: RouteAttributes,
}

/// Every path of `show route all` output, best first. A path starts with
/// a line `[prefix] via ... [protocol time ...] ...`; its attributes follow
/// on tab-indented lines (a `DDDD-` reply code, if any, is skipped).
pub fn parse_paths(text: &str) -> Vec<RoutePath> {
    let mut paths: Vec<RoutePath> = Vec::new();
    for raw in text.lines() {
        let line = match raw.as_bytes() {
            [a, b, c, d, b'-' | b' ', ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
                &raw[5..]
            }
            _ => raw,
        };
        if !line.starts_with('\t') && line.contains(" [") {
            let from = line
                .split_once(" [")
                .and_then(|(_, r)| r.split_whitespace().next())
                .unwrap_or_default();
            paths.push(RoutePath {
                from: from.to_owned(),
                ..RoutePath::default()
            });
            continue;
        }
        let Some(a) = paths.last_mut().map(|p| &mut p.attributes) else {
            continue;
        };
        let line = line.trim();
        let value = |key: &str| line.strip_prefix(key).map(|v| v.trim().to_owned());
        if let Some(v) = value("BGP.next_hop:") {
            a.next_hop = Some(v);
        } else if let Some(v) = value("BGP.originator_id:") {
            a.originator_id = Some(v);
        } else if let Some(v) = value("BGP.cluster_list:") {
            a.cluster_list = Some(v);
        } else if let Some(v) = value("BGP.as_path:") {
            a.as_path = Some(v);
        } else if let Some(v) = value("BGP.med:") {
            a.med = Some(v);
        }
    }
    paths
}

/// `birdc -s socket command` with a given birdc binary.
pub fn birdc(birdc: &std::path::Path, socket: &std::path::Path, command: &str) -> String {
    let out = Command::new(birdc)
        .arg("-s")
        .arg(socket)
        .args(command.split_whitespace())
        .output()
        .expect("birdc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The "since" column of protocol `name` in `show protocols` output.
pub fn protocol_since(show_protocols: &str, name: &str) -> Option<String> {
    show_protocols.lines().find_map(|l| {
        let cols: Vec<_> = l.split_whitespace().collect();
        (cols.first() == Some(&name))
            .then(|| cols.get(4).map(|s| s.to_string()))
            .flatten()
    })
}

/// The state + info columns of protocol `name`.
pub fn protocol_info(show_protocols: &str, name: &str) -> Option<String> {
    show_protocols.lines().find_map(|l| {
        let cols: Vec<_> = l.split_whitespace().collect();
        (cols.first() == Some(&name))
            .then(|| cols.get(5..).map(|c| c.join(" ")).unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `show route all` of a BIRD 1.6 client holding a block from two RRs.
    const TWO_PATHS: &str = "BIRD 1.6.8 ready.
203.0.113.128/30   via 198.51.100.32 on eth0 [Rr_198_51_100_11 21:27:52 from 198.51.100.11] * (100/0) [i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 
\tBGP.next_hop: 198.51.100.32
\tBGP.local_pref: 100
\tBGP.originator_id: 198.51.100.12
\tBGP.cluster_list: 1.0.0.1
                   via 198.51.100.32 on eth0 [Rr_198_51_100_12 21:27:50 from 198.51.100.12] (100/0) [i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 
\tBGP.next_hop: 198.51.100.32
\tBGP.local_pref: 100
\tBGP.originator_id: 198.51.100.32
\tBGP.cluster_list: 1.0.0.1
";

    #[test]
    fn route_attributes_are_those_of_the_best_path_listed_first() {
        let paths = parse_paths(TWO_PATHS);
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].from, "Rr_198_51_100_11");
        assert_eq!(paths[1].from, "Rr_198_51_100_12");
        assert_eq!(
            paths[1].attributes.originator_id.as_deref(),
            Some("198.51.100.32")
        );
        let best = RouteAttributes::parse(TWO_PATHS);
        assert_eq!(best, paths[0].attributes);
        assert_eq!(best.originator_id.as_deref(), Some("198.51.100.12"));
        assert_eq!(best.cluster_list.as_deref(), Some("1.0.0.1"));
        assert_eq!(best.as_path.as_deref(), Some(""));
    }

    #[test]
    fn reply_codes_of_the_raw_socket_protocol_are_skipped() {
        let raw = "1007-203.0.113.4/30 via 198.51.100.21 on eth0 [Rr_x 12:00:00] * (100/0) [i]\n1008-\tBGP.next_hop: 198.51.100.21\n0000 \n";
        let paths = parse_paths(raw);
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].from, "Rr_x");
        assert_eq!(
            paths[0].attributes.next_hop.as_deref(),
            Some("198.51.100.21")
        );
    }
}
