//! `show protocols all` and `show status` -> rrd's session and daemon view;
//! `show protocols` (the table alone) over the last `show protocols all`
//! for the cheap look between two full ones ([`states`]).
//!
//! Sits at the far end of source -> runtime -> engine: what the daemon
//! reports flows back to the runtime's status, metrics and `rrd status`,
//! and to the migration's pre-flight check (did every client negotiate
//! graceful restart?). Both releases are parsed: BIRD 2 (`Name Proto ...`
//! heading, millisecond times, channel sections, a "Neighbor capabilities"
//! block) and BIRD 1.6 (lower-case heading, second times, route counts
//! *before* the BGP section, a one-line "Neighbor caps"). While BIRD runs
//! in graceful-restart recovery (started with `-R`), both show a `GR
//! recovery:` line per channel (BIRD 2) or protocol (1.6): `pending` until
//! the peer's End-of-RIB, `waiting` while BIRD holds back its own routes.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use rrd_core::{Asn, Family, PeerKey, Recovery, SessionState, SessionStatus};

use crate::socket::Reply;

/// One row of the protocol table: the first five columns, then the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolRow {
    pub name: String,
    pub proto: String,
    pub table: String,
    pub state: String,
    pub since: String,
    pub info: String,
}

impl ProtocolRow {
    fn parse(text: &str) -> Option<ProtocolRow> {
        let mut rest = text.trim_start();
        let mut cols = Vec::with_capacity(5);
        for _ in 0..5 {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            cols.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
        let [name, proto, table, state, since] = <[String; 5]>::try_from(cols).ok()?;
        Some(ProtocolRow {
            name,
            proto,
            table,
            state,
            since,
            info: rest.trim_end().to_owned(),
        })
    }
}

/// Split a `show protocols [all]` reply into rows with their detail lines
/// (`1006` block, indentation kept).
pub fn protocol_blocks(reply: &Reply) -> Vec<(ProtocolRow, Vec<String>)> {
    let mut out: Vec<(ProtocolRow, Vec<String>)> = Vec::new();
    for (code, text) in &reply.lines {
        match code {
            1002 => {
                if let Some(row) = ProtocolRow::parse(text) {
                    out.push((row, Vec::new()));
                }
            }
            1006 => {
                if let Some((_, details)) = out.last_mut() {
                    details.push(text.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// Every BGP session of a `show protocols all` reply: rrd's own and any
/// protocol added by hand (the runtime reports those as drift). `daemon_family` is
/// the family of a BIRD 1.6 daemon (its "Neighbor caps" line has no
/// families); `None` for BIRD 2.
pub fn sessions(
    reply: &Reply,
    daemon_family: Option<Family>,
    sinces: &mut Sinces,
) -> Vec<SessionStatus> {
    protocol_blocks(reply)
        .into_iter()
        .filter(|(row, _)| row.proto == "BGP")
        .filter_map(|(row, details)| session(row, &details, daemon_family, sinces))
        .collect()
}

/// What a `show protocols` reply (the table, no detail: a fraction of
/// what `show protocols all` costs BIRD) says over the sessions of the
/// last `show protocols all`, by protocol name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct States {
    /// Every listed BGP protocol still there: state, Since and Info from
    /// the table, the rest (address, counts, capabilities) from the listing.
    pub sessions: Vec<SessionStatus>,
    /// BGP protocols the listing lacks (added since) or whose session came
    /// up or went down since (what only an established session shows, the
    /// listing has wrong): to be read in full.
    pub unlisted: Vec<String>,
}

/// Merge a `show protocols` reply into `listed` (the sessions of the last
/// `show protocols all`, by name); protocols gone from the table are gone.
pub fn states(
    reply: &Reply,
    listed: &std::collections::BTreeMap<String, SessionStatus>,
    sinces: &mut Sinces,
) -> States {
    let mut out = States::default();
    for (row, _) in protocol_blocks(reply) {
        if row.proto != "BGP" {
            continue;
        }
        let (state, info) = state_and_info(&row.state, &row.info);
        let established = |s: SessionState| s == SessionState::Established;
        let Some(known) = listed
            .get(&row.name)
            .filter(|known| established(known.state) == established(state))
        else {
            out.unlisted.push(row.name);
            continue;
        };
        out.sessions.push(SessionStatus {
            state,
            info,
            since: sinces.of(&row.since),
            ..known.clone()
        });
    }
    out
}

fn session(
    row: ProtocolRow,
    details: &[String],
    daemon_family: Option<Family>,
    sinces: &mut Sinces,
) -> Option<SessionStatus> {
    let d = Details::parse(details);
    let Some(address) = d.address else {
        tracing::debug!(protocol = %row.name, "no neighbor address in `show protocols all`; skipped");
        return None;
    };
    let (state, info) = state_and_info(&row.state, &row.info);
    let mut gr = d.gr_families;
    if d.gr_able_without_families {
        gr.insert(daemon_family.unwrap_or_else(|| Family::of(&address)));
    }
    Some(SessionStatus {
        key: PeerKey(row.name),
        address,
        remote_as: d.remote_as,
        state,
        since: sinces.of(&row.since),
        info,
        routes_received: d.imported,
        routes_sent: d.exported,
        peer_graceful_restart: gr,
        rr_client: d.rr_client,
        recovery: d.recovery,
        // BIRD prints the line for a protocol that is up (Established);
        // the filter keeps an identifier from counting for anything else.
        peer_router_id: d.neighbor_id.filter(|_| state == SessionState::Established),
    })
}

/// BIRD's Since texts and their timestamps, kept from one look to the
/// next: a text means the same instant for as long as BIRD prints it
/// (see [`since_timestamp`]), and converting each of 2,000 rows anew took
/// longer than BIRD took to print them. Only the texts of the last two
/// looks are kept.
#[derive(Debug, Default)]
pub struct Sinces {
    now: Option<jiff::Zoned>,
    this_look: HashMap<String, Option<String>>,
    last_look: HashMap<String, Option<String>>,
}

impl Sinces {
    /// Start a look: what the look before last saw is forgotten.
    pub fn start_look(&mut self) {
        self.now = Some(jiff::Zoned::now());
        self.last_look = std::mem::take(&mut self.this_look);
    }

    fn of(&mut self, text: &str) -> Option<String> {
        if let Some(at) = self.this_look.get(text) {
            return at.clone();
        }
        let at = match self.last_look.remove(text) {
            Some(at) => at,
            None => {
                let now = self.now.get_or_insert_with(jiff::Zoned::now);
                since_timestamp(text, now)
            }
        };
        self.this_look.insert(text.to_owned(), at.clone());
        at
    }
}

/// BIRD's Since column as an RFC 3339 UTC timestamp. BIRD prints local
/// wall-clock time: `HH:MM:SS[.mmm]` for the last 20 hours (today, or
/// yesterday when that time of day is still ahead), a bare date
/// (`YYYY-MM-DD`, read as its midnight) for anything older.
pub fn since_timestamp(text: &str, now: &jiff::Zoned) -> Option<String> {
    let tz = now.time_zone().clone();
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return Some(date.to_zoned(tz).ok()?.timestamp().to_string());
    }
    let time: jiff::civil::Time = text.parse().ok()?;
    let mut at = now.date().to_datetime(time).to_zoned(tz.clone()).ok()?;
    if at.timestamp() > now.timestamp() + jiff::SignedDuration::from_secs(60) {
        at = now
            .date()
            .yesterday()
            .ok()?
            .to_datetime(time)
            .to_zoned(tz)
            .ok()?;
    }
    Some(at.timestamp().to_string())
}

/// BIRD's Info column: the BGP state (`Established`, `Active`, ...) padded
/// to 14 characters, then the last error; a protocol that is down shows
/// only the error.
fn state_and_info(proto_state: &str, info: &str) -> (SessionState, String) {
    if proto_state == "down" {
        return (SessionState::Down, info.trim().to_owned());
    }
    let (word, rest) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
    let state = match word {
        "Idle" | "Close" => SessionState::Idle,
        "Connect" => SessionState::Connect,
        // `Passive`: a passive session waiting for the peer to connect.
        "Active" | "Passive" => SessionState::Active,
        "OpenSent" => SessionState::OpenSent,
        "OpenConfirm" => SessionState::OpenConfirm,
        "Established" => SessionState::Established,
        "Down" => SessionState::Down,
        _ => return (SessionState::Idle, info.trim().to_owned()),
    };
    (state, rest.trim().to_owned())
}

#[derive(Debug, Default)]
struct Details {
    address: Option<IpAddr>,
    remote_as: Option<Asn>,
    imported: Option<u64>,
    exported: Option<u64>,
    gr_families: BTreeSet<Family>,
    /// 1.6 `restart-able`: GR with tuples for the daemon's one family.
    gr_able_without_families: bool,
    rr_client: Option<bool>,
    /// The least advanced `GR recovery:` of the protocol's channels.
    recovery: Recovery,
    /// `Neighbor ID:`, the BGP identifier of the peer's OPEN.
    neighbor_id: Option<Ipv4Addr>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

impl Details {
    fn parse(lines: &[String]) -> Details {
        let mut d = Details::default();
        // Inside BIRD 2's "Neighbor capabilities" block: its indentation,
        // and that of its "Graceful restart" entry when inside that.
        let mut caps: Option<usize> = None;
        let mut gr: Option<usize> = None;
        for line in lines {
            let t = line.trim();
            let ind = indent(line);
            if caps.is_some_and(|c| ind <= c) || t.is_empty() {
                caps = None;
                gr = None;
            }
            if gr.is_some_and(|g| ind <= g) {
                gr = None;
            }
            if let Some(v) = field(t, "Neighbor address:") {
                // Link-local neighbors carry `%iface`.
                let v = v.split('%').next().unwrap_or(v);
                d.address = v.parse().ok();
            } else if let Some(v) = field(t, "Neighbor AS:") {
                d.remote_as = v.parse().ok();
            } else if let Some(v) = field(t, "Neighbor ID:") {
                d.neighbor_id = v.parse().ok().filter(|id: &Ipv4Addr| !id.is_unspecified());
            } else if let Some(v) = field(t, "Routes:") {
                let (imp, exp) = route_counts(v);
                d.imported = add(d.imported, imp);
                d.exported = add(d.exported, exp);
            } else if let Some(v) = field(t, "Session:") {
                d.rr_client = Some(v.split_whitespace().any(|w| w == "route-reflector"));
            } else if let Some(v) = field(t, "GR recovery:") {
                // `pending`: the channel's lock waits for the peer's
                // End-of-RIB; `waiting`: BIRD defers its export to the
                // peer until the recovery ends; neither: nothing held.
                let words: Vec<&str> = v.split_whitespace().collect();
                let r = if words.contains(&"pending") {
                    Recovery::AwaitingEndOfRib
                } else if words.contains(&"waiting") {
                    Recovery::RoutesDeferred
                } else {
                    Recovery::Done
                };
                d.recovery = d.recovery.max(r);
            } else if let Some(v) = field(t, "Neighbor caps:") {
                d.gr_able_without_families = v.split_whitespace().any(|w| w == "restart-able");
            } else if t == "Neighbor capabilities" {
                caps = Some(ind);
            } else if caps.is_some() && t == "Graceful restart" {
                gr = Some(ind);
            } else if let (Some(_), Some(v)) = (gr, field(t, "AF supported:")) {
                d.gr_families
                    .extend(v.split_whitespace().filter_map(|f| match f {
                        "ipv4" => Some(Family::Ipv4),
                        "ipv6" => Some(Family::Ipv6),
                        _ => None,
                    }));
            }
        }
        d
    }
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix(name).map(str::trim)
}

/// Saturating: the counts come from the daemon.
fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

/// `1 imported, 0 filtered, 2 exported, 1 preferred` -> (1, 2).
fn route_counts(text: &str) -> (Option<u64>, Option<u64>) {
    let mut imported = None;
    let mut exported = None;
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        match (n.parse::<u64>(), what) {
            (Ok(n), "imported") => imported = Some(n),
            (Ok(n), "exported") => exported = Some(n),
            _ => {}
        }
    }
    (imported, exported)
}

/// What `show status` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonStatus {
    /// `BIRD 2.0.12`.
    pub version: Option<String>,
    /// The final line: `Daemon is up and running`, `Reconfiguration in
    /// progress`, `Shutdown in progress`.
    pub message: String,
}

impl DaemonStatus {
    pub fn parse(reply: &Reply) -> DaemonStatus {
        DaemonStatus {
            version: reply.texts(1000).next().map(|v| v.trim().to_owned()),
            message: reply.message().trim().to_owned(),
        }
    }

    /// No reconfiguration or shutdown under way.
    pub fn is_settled(&self) -> bool {
        self.message == "Daemon is up and running"
    }
}

#[cfg(test)]
mod tests;
