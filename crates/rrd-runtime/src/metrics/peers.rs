//! Per-peer series: one set per BGP session the daemon holds.
//!
//! Fed by every observation of the daemon (each `observe_interval`), so a
//! flap between two scrapes is still counted. Series of a session that
//! disappears from the daemon are removed, not left at their last value.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rrd_core::{PeerKey, SessionState, SessionStatus};

/// Every BGP state, lowercase, in the order of the one-hot series.
pub const STATES: [SessionState; 7] = [
    SessionState::Idle,
    SessionState::Connect,
    SessionState::Active,
    SessionState::OpenSent,
    SessionState::OpenConfirm,
    SessionState::Established,
    SessionState::Down,
];

/// The lowercase label value of a state.
pub fn state_label(state: SessionState) -> &'static str {
    match state {
        SessionState::Idle => "idle",
        SessionState::Connect => "connect",
        SessionState::Active => "active",
        SessionState::OpenSent => "opensent",
        SessionState::OpenConfirm => "openconfirm",
        SessionState::Established => "established",
        SessionState::Down => "down",
    }
}

/// What rrd wants of a session: a client (`client`), a non-client
/// (`nonclient`: RR mesh, external peers) or nothing (`unmanaged`: the
/// daemon holds it, rrd did not write it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    NonClient,
    Unmanaged,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::NonClient => "nonclient",
            Role::Unmanaged => "unmanaged",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    /// Session name (BIRD protocol, GoBGP description).
    pub session: String,
    pub neighbor: String,
    pub role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerStateLabels {
    pub session: String,
    pub neighbor: String,
    pub role: String,
    pub state: String,
}

/// The per-peer families and what is needed to derive them.
#[derive(Debug, Default)]
pub struct PeerMetrics {
    up: Family<PeerLabels, Gauge>,
    state: Family<PeerStateLabels, Gauge>,
    received: Family<PeerLabels, Gauge>,
    sent: Family<PeerLabels, Gauge>,
    flaps: Family<PeerLabels, Counter>,
    state_seconds: Family<PeerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Per session: its labels, state and when rrd saw it enter that state.
    seen: BTreeMap<PeerKey, Seen>,
}

/// A session as the families show it now.
#[derive(Debug)]
struct Seen {
    labels: PeerLabels,
    address: IpAddr,
    role: Role,
    state: SessionState,
    since: Instant,
    received: Option<u64>,
    sent: Option<u64>,
}

impl PeerMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "rrd_peer_session_up",
            "1 while the BGP session is Established",
            self.up.clone(),
        );
        r.register(
            "rrd_peer_session_state",
            "BGP state of the session, one-hot: 1 for the current state, 0 for the others",
            self.state.clone(),
        );
        r.register(
            "rrd_peer_prefixes_received",
            "Prefixes the daemon accepted from the peer",
            self.received.clone(),
        );
        r.register(
            "rrd_peer_prefixes_sent",
            "Prefixes the daemon sends to the peer (absent while the engine does not count them)",
            self.sent.clone(),
        );
        r.register(
            "rrd_peer_session_flaps",
            "Times rrd saw the session leave Established",
            self.flaps.clone(),
        );
        r.register(
            "rrd_peer_state_seconds",
            "Seconds since rrd saw the session enter its current state (since rrd started for a session already in it)",
            self.state_seconds.clone(),
        );
    }

    /// One observation of the daemon: `role` says what rrd wants of each
    /// session name. Only what changed since the last observation touches
    /// the families: at 2,000 sessions setting every series again cost
    /// 17 ms per look (a label set cloned and hashed a dozen times per
    /// session), during which a datastore change waited.
    pub fn observe(
        &mut self,
        sessions: &[SessionStatus],
        role: impl Fn(&PeerKey) -> Role,
        now: Instant,
    ) {
        let mut present = BTreeSet::new();
        for s in sessions {
            present.insert(&s.key);
            let role = role(&s.key);
            let old = match self.seen.get_mut(&s.key) {
                Some(seen) if seen.address == s.address && seen.role == role => {
                    if seen.state != s.state {
                        if seen.state == SessionState::Established {
                            self.flaps.get_or_create(&seen.labels).inc();
                        }
                        seen.state = s.state;
                        seen.since = now;
                        set_state(&self.up, &self.state, &seen.labels, s.state);
                    }
                    if seen.received != s.routes_received {
                        seen.received = s.routes_received;
                        set_count(&self.received, &seen.labels, s.routes_received);
                    }
                    if seen.sent != s.routes_sent {
                        seen.sent = s.routes_sent;
                        set_count(&self.sent, &seen.labels, s.routes_sent);
                    }
                    continue;
                }
                // Same name, other neighbor or role: a new series.
                Some(_) => self.seen.remove(&s.key),
                None => None,
            };
            if let Some(old) = old {
                self.forget(&old.labels);
            }
            let labels = PeerLabels {
                session: s.key.0.clone(),
                neighbor: s.address.to_string(),
                role: role.label().to_owned(),
            };
            // A counter from zero, present before the first flap.
            drop(self.flaps.get_or_create(&labels));
            set_state(&self.up, &self.state, &labels, s.state);
            set_count(&self.received, &labels, s.routes_received);
            set_count(&self.sent, &labels, s.routes_sent);
            self.seen.insert(
                s.key.clone(),
                Seen {
                    labels,
                    address: s.address,
                    role,
                    state: s.state,
                    since: now,
                    received: s.routes_received,
                    sent: s.routes_sent,
                },
            );
        }
        let gone: Vec<PeerKey> = self
            .seen
            .keys()
            .filter(|k| !present.contains(k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(seen) = self.seen.remove(&key) {
                self.forget(&seen.labels);
            }
        }
    }

    fn forget(&self, l: &PeerLabels) {
        self.up.remove(l);
        self.received.remove(l);
        self.sent.remove(l);
        self.flaps.remove(l);
        self.state_seconds.remove(l);
        for st in STATES {
            self.state.remove(&state_labels(l, st));
        }
    }

    /// Refresh the time-in-state gauges (at scrape time).
    pub fn refresh(&self, now: Instant) {
        for seen in self.seen.values() {
            self.state_seconds
                .get_or_create(&seen.labels)
                .set(now.saturating_duration_since(seen.since).as_secs_f64());
        }
    }

    /// The daemon cannot be observed: its sessions are unknown, not up.
    pub fn clear(&mut self) {
        self.seen.clear();
        self.up.clear();
        self.state.clear();
        self.received.clear();
        self.sent.clear();
        self.flaps.clear();
        self.state_seconds.clear();
    }
}

fn state_labels(l: &PeerLabels, state: SessionState) -> PeerStateLabels {
    PeerStateLabels {
        session: l.session.clone(),
        neighbor: l.neighbor.clone(),
        role: l.role.clone(),
        state: state_label(state).to_owned(),
    }
}

/// `up` and the one-hot state series of `labels`.
fn set_state(
    up: &Family<PeerLabels, Gauge>,
    state: &Family<PeerStateLabels, Gauge>,
    labels: &PeerLabels,
    now: SessionState,
) {
    up.get_or_create(labels)
        .set(i64::from(now == SessionState::Established));
    for st in STATES {
        state
            .get_or_create(&state_labels(labels, st))
            .set(i64::from(st == now));
    }
}

fn set_count(family: &Family<PeerLabels, Gauge>, labels: &PeerLabels, count: Option<u64>) {
    match count {
        Some(n) => {
            family
                .get_or_create(labels)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        None => {
            family.remove(labels);
        }
    }
}
