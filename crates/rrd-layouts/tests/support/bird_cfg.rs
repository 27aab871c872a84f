//! A small reader for the BGP parts of a BIRD config that Calico's confd
//! rendered: the router id, the `bgp_template`'s local AS, and every
//! `protocol bgp NAME from bgp_template { ... }` with the statements that
//! define a session. Filters are skipped; any other statement inside a
//! protocol is an error, so a template change upstream cannot slip by.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// One rendered BGP protocol, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub neighbor: Option<IpAddr>,
    pub port: Option<u16>,
    pub remote_as: Option<u32>,
    /// A `local as` line inside the protocol (else the template's applies).
    pub local_as: Option<u32>,
    pub source_address: Option<IpAddr>,
    /// `ttl security on` (true) / `off` (false).
    pub ttl_security: Option<bool>,
    /// `multihop;` = Some(None), `multihop N;` = Some(Some(N)).
    pub multihop: Option<Option<u8>>,
    pub passive: bool,
    pub graceful_restart_time: Option<u32>,
    pub keepalive_time: Option<u32>,
    pub rr_client: bool,
    pub rr_cluster_id: Option<String>,
    pub password: Option<String>,
    pub next_hop_keep: bool,
    pub next_hop_self: bool,
    pub allow_local_as: Option<u8>,
}

/// The BGP side of one bird.cfg / bird6.cfg.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BirdBgp {
    pub router_id: Option<Ipv4Addr>,
    /// `local as` of `template bgp bgp_template`; `None` without template.
    pub template_local_as: Option<u32>,
    pub protocols: BTreeMap<String, Protocol>,
}

/// Drop `#` comments (outside double-quoted strings).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                '#' if !quoted => break,
                _ => {}
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// Top-level statements of a `{ ... }` body: split at `;` outside nested
/// braces and quotes; nested blocks (filters) come back whole.
fn statements(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => depth = depth.saturating_sub(1),
            ';' if !quoted && depth == 0 => {
                let s = current.split_whitespace().collect::<Vec<_>>().join(" ");
                if !s.is_empty() {
                    out.push(s);
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    let rest = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The body of the block whose opening brace is at `open`, and the offset
/// just after its closing brace.
fn block(text: &str, open: usize) -> Result<(&str, usize), String> {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&text[open + 1..open + i], open + i + 1));
                }
            }
            _ => {}
        }
    }
    Err("unclosed block".into())
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what}: {s:?}"))
}

pub fn parse(text: &str) -> Result<BirdBgp, String> {
    let text = strip_comments(text);
    let mut out = BirdBgp::default();
    for line in text.lines().map(str::trim) {
        if let Some(id) = line.strip_prefix("router id ") {
            out.router_id = Some(num(id.trim_end_matches(';').trim(), "router id")?);
        }
    }
    let mut at = 0;
    while let Some(found) = text[at..].find("template bgp bgp_template") {
        let start = at + found;
        let open = start + text[start..].find('{').ok_or("template without body")?;
        let (body, end) = block(&text, open)?;
        for s in statements(body) {
            if let Some(asn) = s.strip_prefix("local as ") {
                out.template_local_as = Some(num(asn, "template local as")?);
            }
        }
        at = end;
    }
    let mut at = 0;
    while let Some(found) = text[at..].find("protocol bgp ") {
        let start = at + found;
        let open = start + text[start..].find('{').ok_or("protocol without body")?;
        let header: Vec<&str> = text[start..open].split_whitespace().collect();
        let name = match header.as_slice() {
            ["protocol", "bgp", name, "from", "bgp_template"] => (*name).to_owned(),
            other => return Err(format!("unexpected protocol header {other:?}")),
        };
        let (body, end) = block(&text, open)?;
        let protocol = protocol(&name, body).map_err(|e| format!("protocol {name}: {e}"))?;
        if out.protocols.insert(name.clone(), protocol).is_some() {
            return Err(format!("protocol {name} appears twice"));
        }
        at = end;
    }
    Ok(out)
}

fn protocol(name: &str, body: &str) -> Result<Protocol, String> {
    let mut p = Protocol {
        name: name.to_owned(),
        ..Protocol::default()
    };
    for s in statements(body) {
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["local", "as", asn] => p.local_as = Some(num(asn, "local as")?),
            ["neighbor", addr, "as", asn] => {
                p.neighbor = Some(num(addr, "neighbor")?);
                p.remote_as = Some(num(asn, "neighbor as")?);
            }
            ["neighbor", addr, "port", port, "as", asn] => {
                p.neighbor = Some(num(addr, "neighbor")?);
                p.port = Some(num(port, "port")?);
                p.remote_as = Some(num(asn, "neighbor as")?);
            }
            ["source", "address", addr] => p.source_address = Some(num(addr, "source address")?),
            ["ttl", "security", "on"] => p.ttl_security = Some(true),
            ["ttl", "security", "off"] => p.ttl_security = Some(false),
            ["multihop"] => p.multihop = Some(None),
            ["multihop", hops] => p.multihop = Some(Some(num(hops, "multihop")?)),
            ["passive", "on"] => p.passive = true,
            ["graceful", "restart", "time", t] => {
                p.graceful_restart_time = Some(num(t, "graceful restart time")?)
            }
            ["keepalive", "time", t] => p.keepalive_time = Some(num(t, "keepalive time")?),
            ["rr", "client"] => p.rr_client = true,
            ["rr", "cluster", "id", id] => p.rr_cluster_id = Some((*id).to_owned()),
            ["password", _, ..] => {
                let quoted = s["password".len()..].trim();
                let value = quoted
                    .strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .ok_or_else(|| format!("unquoted password in {s:?}"))?;
                p.password = Some(value.to_owned());
            }
            ["next", "hop", "keep"] => p.next_hop_keep = true,
            ["next", "hop", "self"] => p.next_hop_self = true,
            ["allow", "local", "as", n] => p.allow_local_as = Some(num(n, "allow local as")?),
            ["import", "filter", ..] | ["export", "filter", ..] => {}
            ["import", "all"] | ["export", "all"] => {}
            _ => return Err(format!("statement not understood: {s:?}")),
        }
    }
    if p.neighbor.is_none() {
        return Err("no neighbor line".into());
    }
    Ok(p)
}
