//! Session states between two full looks (pure): `show bgp view <v>
//! summary json` merged into the sessions of the last `show bgp view <v>
//! neighbors json`.
//!
//! The full look's JSON is about 2 KB per neighbor (4.2 MB at 2,099) and
//! bgpd serves nothing else while it writes it; the summary is a fraction
//! of that and carries what changes between looks: each peer's state and
//! when it came up. So the runtime's frequent look (`observe_states`)
//! reads the summary and keeps everything else (route counts, the peer's
//! graceful-restart families, where it stands in a restart) from the last
//! full look, taken every `runtime.counts_interval`. A peer the full look
//! did not show, or whose session came up or went down since, is read
//! again on its own (`show bgp view <v> neighbors <address> json`): what
//! bgpd shows only of an established session is wrong in the listing
//! then.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rrd_core::{since_unix_seconds, SessionState, SessionStatus};
use serde_json::Value;

use crate::observe::{family_of, state_of};

/// The sessions of the last full look, by neighbor address, and how many
/// best routes each client sent back (for its sent count).
#[derive(Debug, Default)]
pub struct Listing {
    sessions: BTreeMap<IpAddr, SessionStatus>,
    best_from_peer: BTreeMap<IpAddr, u64>,
}

/// A summary merged into the listing.
#[derive(Debug, Default, PartialEq)]
pub struct Merged {
    /// Every peer the summary shows that the listing has right: its state
    /// and uptime from the summary, the rest from the listing.
    pub sessions: Vec<SessionStatus>,
    /// Peers to read again on their own: not in the listing, or their
    /// session came up or went down since.
    pub unlisted: Vec<IpAddr>,
}

fn established(s: SessionState) -> bool {
    s == SessionState::Established
}

impl Listing {
    /// A full look: it replaces everything.
    pub fn listed(&mut self, sessions: &[SessionStatus], best_from_peer: BTreeMap<IpAddr, u64>) {
        self.sessions = sessions.iter().map(|s| (s.address, s.clone())).collect();
        self.best_from_peer = best_from_peer;
    }

    /// bgpd is gone or holds no view: the next look is a full one.
    pub fn forget(&mut self) {
        *self = Listing::default();
    }

    /// Whether there is a full look to merge into.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Best routes by the client they came from, as of the last full look.
    pub fn best_from_peer(&self) -> &BTreeMap<IpAddr, u64> {
        &self.best_from_peer
    }

    /// Merge `show bgp view <v> summary json` (one table per address
    /// family, each with its `peers`); peers it no longer shows are gone.
    pub fn merge(&self, summary: &Value) -> Merged {
        let mut seen: BTreeMap<IpAddr, (SessionState, Option<u64>)> = BTreeMap::new();
        for (address, peer) in summary_entries(summary) {
            let state = state_of(peer["state"].as_str().unwrap_or(""));
            let up_since = peer["peerUptimeEstablishedEpoch"].as_u64();
            seen.entry(address).or_insert((state, up_since));
        }
        let mut out = Merged::default();
        for (address, (state, up_since)) in seen {
            let Some(known) = self
                .sessions
                .get(&address)
                .filter(|known| established(known.state) == established(state))
            else {
                out.unlisted.push(address);
                continue;
            };
            out.sessions.push(SessionStatus {
                state,
                since: if established(state) {
                    up_since
                        .and_then(since_unix_seconds)
                        .or_else(|| known.since.clone())
                } else {
                    None
                },
                info: if state == known.state {
                    known.info.clone()
                } else {
                    String::new()
                },
                ..known.clone()
            });
        }
        out
    }

    /// Keep `merged` and the sessions `read` again as the listing, for the
    /// next merge; every session, sorted by name.
    pub fn update(
        &mut self,
        merged: Vec<SessionStatus>,
        read: Vec<SessionStatus>,
    ) -> Vec<SessionStatus> {
        let mut all: Vec<SessionStatus> = merged.into_iter().chain(read).collect();
        self.sessions = all.iter().map(|s| (s.address, s.clone())).collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }
}

/// Each peer of `show bgp view <v> summary json` (one table per address
/// family, each with its `peers`), once per family it is in.
fn summary_entries(summary: &Value) -> impl Iterator<Item = (IpAddr, &Value)> {
    summary
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(af, _)| family_of(af).is_some())
        .flat_map(|(_, table)| table["peers"].as_object().into_iter().flatten())
        .filter_map(|(address, peer)| Some((address.parse().ok()?, peer)))
}

/// Every peer `show bgp view <v> summary json` shows, in any family.
pub fn summary_peers(summary: &Value) -> std::collections::BTreeSet<IpAddr> {
    summary_entries(summary)
        .map(|(address, _)| address)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rrd_core::{PeerKey, Recovery};

    fn session(address: &str, state: SessionState) -> SessionStatus {
        let address: IpAddr = address.parse().unwrap();
        SessionStatus {
            key: PeerKey(format!("Node_{address}").replace(['.', ':'], "_")),
            address,
            remote_as: Some(rrd_core::Asn(64512)),
            state,
            since: None,
            info: "Waiting for NHT".into(),
            routes_received: Some(3),
            routes_sent: Some(5),
            peer_graceful_restart: Default::default(),
            rr_client: Some(true),
            recovery: Recovery::Done,
            peer_router_id: None,
        }
    }

    /// Shaped like bgpd 8.4.4's answer (fields rrd does not read left out).
    fn summary(peers: &[(&str, &str)]) -> Value {
        let mut v4 = serde_json::Map::new();
        let mut v6 = serde_json::Map::new();
        for (address, state) in peers {
            let mut p = serde_json::json!({
                "remoteAs": 64512, "pfxRcd": 0, "pfxSnt": 0, "state": state,
                "peerState": "OK", "desc": "ignored", "idType": "ipv4"
            });
            if *state == "Established" {
                p["peerUptimeEstablishedEpoch"] = 1_700_000_000u64.into();
            }
            let table = if address.contains(':') {
                &mut v6
            } else {
                &mut v4
            };
            table.insert((*address).to_owned(), p);
        }
        serde_json::json!({
            "ipv4Unicast": { "routerId": "198.51.100.1", "as": 64512, "peers": v4 },
            "ipv6Unicast": { "routerId": "198.51.100.1", "as": 64512, "peers": v6 },
        })
    }

    #[test]
    fn states_come_from_the_summary_and_the_rest_from_the_listing() {
        let mut l = Listing::default();
        l.listed(
            &[
                session("198.51.100.2", SessionState::Active),
                session("198.51.100.3", SessionState::Established),
                session("198.51.100.9", SessionState::Active),
            ],
            BTreeMap::new(),
        );
        // .2 tries again (Connect), .3 is still up, .9 is gone.
        let m = l.merge(&summary(&[
            ("198.51.100.2", "Connect"),
            ("198.51.100.3", "Established"),
        ]));
        assert!(m.unlisted.is_empty(), "{m:?}");
        assert_eq!(m.sessions.len(), 2);
        let trying = &m.sessions[0];
        assert_eq!(trying.state, SessionState::Connect);
        assert_eq!(
            trying.info, "",
            "the listing's reason was for another state"
        );
        let up = &m.sessions[1];
        assert_eq!(up.state, SessionState::Established);
        assert_eq!(up.since.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!((up.routes_received, up.routes_sent), (Some(3), Some(5)));
        assert_eq!(up.rr_client, Some(true));
    }

    #[test]
    fn a_new_peer_or_one_that_came_up_or_went_down_is_read_again() {
        let mut l = Listing::default();
        l.listed(
            &[
                session("198.51.100.2", SessionState::Active),
                session("198.51.100.3", SessionState::Established),
                session("2001:db8::2", SessionState::Active),
            ],
            BTreeMap::new(),
        );
        let m = l.merge(&summary(&[
            ("198.51.100.2", "Established"),
            ("198.51.100.3", "Idle"),
            ("198.51.100.4", "Active"),
            ("2001:db8::2", "Active"),
        ]));
        let unlisted: Vec<String> = m.unlisted.iter().map(ToString::to_string).collect();
        assert_eq!(unlisted, ["198.51.100.2", "198.51.100.3", "198.51.100.4"]);
        assert_eq!(m.sessions.len(), 1);
        assert_eq!(m.sessions[0].address.to_string(), "2001:db8::2");
    }

    #[test]
    fn the_update_keeps_what_was_read_for_the_next_merge() {
        let mut l = Listing::default();
        l.listed(
            &[session("198.51.100.2", SessionState::Active)],
            BTreeMap::new(),
        );
        let m = l.merge(&summary(&[("198.51.100.2", "Established")]));
        assert_eq!(m.unlisted.len(), 1);
        let read = session("198.51.100.2", SessionState::Established);
        let all = l.update(m.sessions, vec![read]);
        assert_eq!(all.len(), 1);
        let m = l.merge(&summary(&[("198.51.100.2", "Established")]));
        assert!(m.unlisted.is_empty(), "read once, not at every look");
        l.forget();
        assert!(l.is_empty());
    }
}
