//! Session states between two full listings: gobgpd's WatchEvent peer
//! stream merged into the last ListPeer.
//!
//! A ListPeer of every peer (with advertised counts) costs gobgpd tens of
//! milliseconds of CPU at thousands of peers, and its main loop serves
//! nothing else meanwhile. So the engine lists every peer only for a full
//! observation (`runtime.counts_interval`); in between, [`PeerStates`]
//! keeps that listing's sessions and updates their states from the peer
//! events gobgpd pushes (every peer once when the stream opens, then each
//! state change), and from rrd's own applies (a peer rrd added is shown at
//! once, one it removed is gone at once). A session that came up or went
//! down since the listing is read again on its own (ListPeer of its
//! address): what gobgpd knows only of an established session (the peer's
//! capabilities, the route counts) is wrong in the listing then. The
//! stream ends when gobgpd goes away; the next look then lists every peer
//! again.
//!
//! Pure apart from the forwarding task: events come in as [`apipb::Peer`]s
//! and time as an argument, so the merge is tested without a daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::SystemTime;

use rrd_core::{since_unix_seconds, Neighbor, PeerKey, Recovery, SessionState, SessionStatus};
use tokio::sync::mpsc;

use crate::apipb;
use crate::client::Client;
use crate::error::GobgpError;
use crate::observe::session_of;
use crate::sent_counts::LookSize;

/// The sessions of the last full listing, kept current by peer events and
/// applies.
#[derive(Debug, Default)]
pub struct PeerStates {
    /// By neighbor address (peer events carry no description).
    sessions: BTreeMap<IpAddr, SessionStatus>,
    /// Sessions that came up or went down since they were read: to be
    /// read again.
    stale: BTreeSet<IpAddr>,
    /// The open peer-event stream.
    watch: Option<Watch>,
}

/// The forwarding task of one WatchEvent stream.
#[derive(Debug)]
struct Watch {
    events: mpsc::UnboundedReceiver<apipb::Peer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the peer states can be trusted without a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The stream is open and every event it delivered is merged.
    Current,
    /// No stream, or it ended (gobgpd restarted or went away): list every
    /// peer.
    NeedsListing,
}

impl PeerStates {
    /// Open the peer-event stream (before a listing, so that no state
    /// change falls between the two). Events gobgpd sent before the
    /// listing only repeat what it shows or precede what follows them.
    pub async fn watch(&mut self, client: &Client) -> Result<(), GobgpError> {
        let mut stream = client.watch_peers().await?;
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                let Some(apipb::watch_event_response::Event::Peer(pe)) = event.event else {
                    continue;
                };
                if let Some(peer) = pe.peer {
                    if tx.send(peer).is_err() {
                        break;
                    }
                }
            }
        });
        self.watch = Some(Watch { events, task });
        Ok(())
    }

    /// Forget the stream (the engine stops, or gobgpd is gone).
    pub fn unwatch(&mut self) {
        self.watch = None;
    }

    /// A full listing: it replaces every session.
    pub fn listed(&mut self, sessions: Vec<SessionStatus>) {
        self.sessions = sessions.into_iter().map(|s| (s.address, s)).collect();
        self.stale.clear();
    }

    /// The sessions to read again (they came up or went down since they
    /// were read), by address.
    pub fn stale(&self) -> Vec<IpAddr> {
        self.stale.iter().copied().collect()
    }

    /// One session read again (`None`: gobgpd no longer has a peer there);
    /// it keeps the name it is shown under.
    pub fn relisted(&mut self, address: IpAddr, read: Option<SessionStatus>) {
        self.stale.remove(&address);
        match read {
            Some(read) => {
                let key = self.sessions.get(&address).map(|s| s.key.clone());
                let session = SessionStatus {
                    key: key.unwrap_or(read.key.clone()),
                    ..read
                };
                self.sessions.insert(address, session);
            }
            None => {
                self.sessions.remove(&address);
            }
        }
    }

    /// Merge what the stream delivered since the last call. `key_of`
    /// names a peer rrd applied at an address.
    pub fn drain(&mut self, key_of: impl Fn(IpAddr) -> Option<PeerKey>) -> Freshness {
        let Some(watch) = self.watch.as_mut() else {
            return Freshness::NeedsListing;
        };
        let mut events = Vec::new();
        let ended = loop {
            match watch.events.try_recv() {
                Ok(peer) => events.push(peer),
                Err(mpsc::error::TryRecvError::Empty) => break false,
                Err(mpsc::error::TryRecvError::Disconnected) => break true,
            }
        };
        let now = SystemTime::now();
        for peer in &events {
            self.event(peer, &key_of, now);
        }
        if ended {
            self.watch = None;
            return Freshness::NeedsListing;
        }
        Freshness::Current
    }

    /// One peer event (address, AS and state: no description, no counts).
    pub fn event(
        &mut self,
        peer: &apipb::Peer,
        key_of: impl Fn(IpAddr) -> Option<PeerKey>,
        now: SystemTime,
    ) {
        let Some(seen) = session_of(peer) else {
            return;
        };
        let since = || seen.since.clone().or_else(|| rfc3339(now));
        let established = |s: SessionState| s == SessionState::Established;
        match self.sessions.get_mut(&seen.address) {
            Some(s) => {
                if s.state != seen.state {
                    s.since = since();
                }
                if established(s.state) != established(seen.state) {
                    self.stale.insert(seen.address);
                }
                s.state = seen.state;
                s.remote_as = seen.remote_as.or(s.remote_as);
            }
            // An Idle peer not listed is one just deleted (its last
            // event) or one just added that has not started yet (its next
            // event follows): only the latter is worth showing, then.
            None if seen.state == SessionState::Idle => {}
            None => {
                if established(seen.state) {
                    self.stale.insert(seen.address);
                }
                let key = key_of(seen.address).unwrap_or(seen.key.clone());
                self.sessions.insert(
                    seen.address,
                    SessionStatus {
                        key,
                        since: since(),
                        ..seen
                    },
                );
            }
        }
    }

    /// rrd added (or changed) this session: shown at once, Idle until its
    /// first event, without counts until the next listing (a changed one
    /// at the same address stays as it is).
    pub fn added(&mut self, key: &PeerKey, neighbor: &Neighbor, now: SystemTime) {
        // A session kept at its address keeps its state (an UpdatePeer
        // of timers does not reset it); one that moved is gone there.
        self.sessions
            .retain(|a, s| s.key != *key || *a == neighbor.address);
        self.sessions
            .entry(neighbor.address)
            .and_modify(|s| s.key = key.clone())
            .or_insert_with(|| SessionStatus {
                key: key.clone(),
                address: neighbor.address,
                remote_as: Some(neighbor.remote_as),
                state: SessionState::Idle,
                since: rfc3339(now),
                info: String::new(),
                routes_received: None,
                routes_sent: None,
                peer_graceful_restart: Default::default(),
                rr_client: Some(neighbor.role.is_client()),
                recovery: Recovery::Done,
                peer_router_id: None,
            });
    }

    /// rrd removed this session.
    pub fn removed(&mut self, key: &PeerKey) {
        self.sessions.retain(|_, s| s.key != *key);
        let sessions = &self.sessions;
        self.stale.retain(|a| sessions.contains_key(a));
    }

    /// Every session, by name.
    /// The figures of the sessions held (the last listing's, as kept
    /// current since): what the next full look's cost follows.
    pub fn look_size(&self) -> LookSize {
        LookSize::of(self.sessions.values())
    }

    pub fn sessions(&self) -> Vec<SessionStatus> {
        let mut out: Vec<SessionStatus> = self.sessions.values().cloned().collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

fn rfc3339(at: SystemTime) -> Option<String> {
    let seconds = at.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    since_unix_seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apipb::peer_state::SessionState as ApiState;
    use rrd_core::{Asn, Role, SessionKind};

    fn listed(address: &str, key: &str, state: SessionState) -> SessionStatus {
        SessionStatus {
            key: PeerKey(key.into()),
            address: address.parse().unwrap(),
            remote_as: Some(Asn(64512)),
            state,
            since: None,
            info: String::new(),
            routes_received: Some(3),
            routes_sent: Some(5),
            peer_graceful_restart: Default::default(),
            rr_client: Some(true),
            recovery: Recovery::Done,
            peer_router_id: None,
        }
    }

    fn event(address: &str, state: ApiState) -> apipb::Peer {
        apipb::Peer {
            conf: Some(apipb::PeerConf {
                neighbor_address: address.into(),
                peer_asn: 64512,
                ..Default::default()
            }),
            state: Some(apipb::PeerState {
                session_state: state as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn no_key(_: IpAddr) -> Option<PeerKey> {
        None
    }

    #[test]
    fn an_event_changes_the_state_of_a_listed_session_and_keeps_its_counts() {
        let mut states = PeerStates::default();
        states.listed(vec![listed(
            "198.51.100.2",
            "Node_198_51_100_2",
            SessionState::Established,
        )]);
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        states.event(&event("198.51.100.2", ApiState::Active), no_key, at);
        let s = &states.sessions()[0];
        assert_eq!(s.key.0, "Node_198_51_100_2", "the listed name stays");
        assert_eq!(s.state, SessionState::Active);
        assert_eq!(s.since.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!((s.routes_received, s.routes_sent), (Some(3), Some(5)));
        let address: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(states.stale(), [address], "went down: to be read again");
    }

    #[test]
    fn a_session_that_came_up_is_read_again_and_keeps_its_name() {
        let mut states = PeerStates::default();
        let address: IpAddr = "198.51.100.2".parse().unwrap();
        states.listed(vec![listed(
            "198.51.100.2",
            "Node_198_51_100_2",
            SessionState::Active,
        )]);
        let now = SystemTime::now();
        states.event(&event("198.51.100.2", ApiState::Connect), no_key, now);
        assert!(states.stale().is_empty(), "still trying: nothing to read");
        states.event(&event("198.51.100.2", ApiState::Established), no_key, now);
        assert_eq!(states.stale(), [address]);
        let mut read = listed(
            "198.51.100.2",
            "gobgp_198_51_100_2",
            SessionState::Established,
        );
        read.peer_graceful_restart.insert(rrd_core::Family::Ipv4);
        read.routes_received = Some(7);
        states.relisted(address, Some(read));
        assert!(states.stale().is_empty());
        let s = &states.sessions()[0];
        assert_eq!(s.key.0, "Node_198_51_100_2");
        assert_eq!(s.routes_received, Some(7));
        assert!(s.peer_graceful_restart.contains(&rrd_core::Family::Ipv4));
        states.relisted(address, None);
        assert!(states.sessions().is_empty(), "gobgpd has no peer there now");
    }

    #[test]
    fn a_peer_not_listed_is_shown_under_the_name_rrd_applied_unless_idle() {
        let mut states = PeerStates::default();
        let key = |a: IpAddr| (a.to_string() == "198.51.100.3").then(|| PeerKey("Node_3".into()));
        let now = SystemTime::now();
        states.event(&event("198.51.100.3", ApiState::Idle), key, now);
        assert!(states.sessions().is_empty(), "deleted or not started yet");
        states.event(&event("198.51.100.3", ApiState::Active), key, now);
        states.event(&event("198.51.100.4", ApiState::Connect), key, now);
        let s = states.sessions();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].key.0, "Node_3");
        assert_eq!(s[0].state, SessionState::Active);
        assert_eq!(s[0].routes_sent, None, "no counts before a listing");
        assert_eq!(s[1].key.0, "gobgp_198_51_100_4");
    }

    #[test]
    fn applies_show_added_sessions_at_once_and_drop_removed_ones() {
        let mut states = PeerStates::default();
        states.listed(vec![listed("198.51.100.2", "a", SessionState::Established)]);
        let n = Neighbor::new(
            SessionKind::Node,
            "198.51.100.5".parse().unwrap(),
            Asn(64512),
            Role::RrClient { cluster_id: None },
            None,
        );
        states.added(&PeerKey("b".into()), &n, SystemTime::now());
        states.removed(&PeerKey("a".into()));
        let s = states.sessions();
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].key.0.as_str(), s[0].state, s[0].rr_client),
            ("b", SessionState::Idle, Some(true))
        );
    }

    #[test]
    fn without_a_stream_the_states_need_a_listing() {
        let mut states = PeerStates::default();
        assert_eq!(states.drain(no_key), Freshness::NeedsListing);
    }
}
