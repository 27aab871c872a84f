//! A full look read a few neighbors at a time, resumed where it stopped:
//! the bookkeeping (pure) and the read of one window ([`read_neighbors`]);
//! the engine's `looks` module drives it over the vty.
//!
//! `show bgp view <v> neighbors json` at 2,099 neighbors is 4.3 MB that
//! bgpd, single-threaded, writes in 90-124 ms while every other command
//! waits; a look that gives way to a datastore change leaves bgpd writing
//! it anyway. Read instead as `show bgp view <v> neighbors <address> json`
//! in small pipelined windows, bgpd is never busy for more than a few
//! milliseconds at a time (at most 4.8 ms per window of 16 at 2,099
//! neighbors, 281 ms in all). A look that gives way keeps what it read: the
//! next one goes on from there, so the look that must run to its end
//! (after a few that gave way) has only the rest to read.
//!
//! The peers to read come from `summary json`. What was read stays valid
//! until the engine applies a change or bgpd restarts (the engine's
//! *generation*): then the peers are taken again, what was read of peers
//! that are gone is dropped and the new ones are read. After rrd's own
//! applies to the same bgpd the peers are those of the view it applied;
//! otherwise the summary is read again. A look older than [`MAX_AGE`]
//! starts over.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::vty::{Vty, VtyError};

/// Neighbors read in one pipelined window.
pub const WINDOW: usize = 16;

/// A look unfinished for this long starts over: its first reads would be
/// too old to report as one look.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// A full look under way.
#[derive(Debug)]
pub struct FullLook {
    generation: u64,
    started: Instant,
    /// Peers still to read, in order.
    to_read: Vec<IpAddr>,
    /// Each peer read: address -> bgpd's JSON object for it.
    read: Map<String, Value>,
}

impl FullLook {
    /// A look of `peers` (what the summary shows), begun at `now`.
    pub fn new(peers: BTreeSet<IpAddr>, generation: u64, now: Instant) -> FullLook {
        FullLook {
            generation,
            started: now,
            to_read: peers.into_iter().collect(),
            read: Map::new(),
        }
    }

    /// Whether what was read still holds: same generation, not too old.
    pub fn current(&self, generation: u64, now: Instant) -> bool {
        self.generation == generation && !self.too_old(now)
    }

    /// Too old to go on with at all.
    pub fn too_old(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) > MAX_AGE
    }

    /// After a change: `peers` is what bgpd shows now. What was read of
    /// peers gone is dropped; every peer not read yet is to be read.
    pub fn refresh(&mut self, peers: BTreeSet<IpAddr>, generation: u64) {
        self.generation = generation;
        self.read
            .retain(|k, _| k.parse::<IpAddr>().is_ok_and(|a| peers.contains(&a)));
        self.to_read = peers
            .into_iter()
            .filter(|a| !self.read.contains_key(&a.to_string()))
            .collect();
    }

    /// The next peers to read (empty: the look is complete).
    pub fn next_window(&self) -> &[IpAddr] {
        &self.to_read[..self.to_read.len().min(WINDOW)]
    }

    /// The window [`Self::next_window`] gave was read: `answers` holds what
    /// bgpd showed of each (a peer it no longer has is simply missing).
    pub fn window_read(&mut self, answers: Map<String, Value>) {
        let n = self.to_read.len().min(WINDOW);
        self.to_read.drain(..n);
        self.read.extend(answers);
    }

    pub fn is_complete(&self) -> bool {
        self.to_read.is_empty()
    }

    /// Every peer read, as one `neighbors json` object.
    pub fn into_neighbors(self) -> Value {
        Value::Object(self.read)
    }
}

/// `show bgp view <view> neighbors <address> json` of each of `addresses`,
/// sent at once ([`Vty::run_pipelined`]): each answer by its address, a
/// peer bgpd does not have left out.
pub async fn read_neighbors(
    vty: &mut Vty,
    view: &str,
    addresses: &[IpAddr],
) -> Result<Map<String, Value>, VtyError> {
    if addresses.is_empty() {
        return Ok(Map::new());
    }
    let commands: Vec<String> = addresses
        .iter()
        .map(|a| format!("show bgp view {view} neighbors {a} json"))
        .collect();
    let replies = vty.run_pipelined(&commands).await?;
    Ok(addresses
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.ok())
        .filter_map(|(a, r)| neighbor_of(*a, &r.text))
        .collect())
}

/// The part of `show bgp view <v> neighbors <address> json` about
/// `address` (bgpd answers `{"bgpNoSuchNeighbor": true}` for a peer it does
/// not have: `None`).
pub fn neighbor_of(address: IpAddr, text: &str) -> Option<(String, Value)> {
    let mut one: Value = serde_json::from_str(text).ok()?;
    let key = address.to_string();
    let n = one.get_mut(&key)?.take();
    Some((key, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: u8) -> BTreeSet<IpAddr> {
        (1..=n)
            .map(|i| IpAddr::from([198, 18, 0, i]))
            .collect::<BTreeSet<_>>()
    }

    fn answer(window: &[IpAddr]) -> Map<String, Value> {
        window
            .iter()
            .map(|a| (a.to_string(), serde_json::json!({ "bgpState": "Active" })))
            .collect()
    }

    #[test]
    fn a_look_reads_every_peer_in_windows_and_resumes_where_it_stopped() {
        let now = Instant::now();
        let mut look = FullLook::new(peers(40), 7, now);
        let mut windows = 0;
        while !look.is_complete() {
            let w = look.next_window().to_vec();
            assert!(!w.is_empty() && w.len() <= WINDOW);
            let a = answer(&w);
            // A look that gave way is the same value, kept by the engine:
            // it goes on with the next window.
            look.window_read(a);
            windows += 1;
        }
        assert_eq!(windows, 3);
        assert!(look.current(7, now));
        assert!(!look.current(8, now));
        let all = look.into_neighbors();
        assert_eq!(all.as_object().unwrap().len(), 40);
    }

    #[test]
    fn after_a_change_peers_gone_are_dropped_and_new_ones_read() {
        let now = Instant::now();
        let mut look = FullLook::new(peers(20), 1, now);
        let w = look.next_window().to_vec();
        look.window_read(answer(&w));
        // 198.18.0.1 removed, 198.18.0.21 and .22 added by an apply.
        let mut now_shown = peers(22);
        now_shown.remove(&IpAddr::from([198, 18, 0, 1]));
        look.refresh(now_shown, 2);
        assert!(look.current(2, now));
        let rest: Vec<_> = look.next_window().iter().map(ToString::to_string).collect();
        assert_eq!(
            rest,
            [
                "198.18.0.17",
                "198.18.0.18",
                "198.18.0.19",
                "198.18.0.20",
                "198.18.0.21",
                "198.18.0.22"
            ]
        );
        let w = look.next_window().to_vec();
        look.window_read(answer(&w));
        assert!(look.is_complete());
        let all = look.into_neighbors();
        let keys: BTreeSet<_> = all.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 21);
        assert!(!keys.contains("198.18.0.1"));
    }

    #[test]
    fn an_old_look_is_not_current() {
        let then = Instant::now();
        let look = FullLook::new(peers(3), 1, then);
        assert!(look.too_old(then + MAX_AGE + Duration::from_secs(1)));
        assert!(!look.current(1, then + MAX_AGE + Duration::from_secs(1)));
    }

    #[test]
    fn a_neighbor_answer_is_taken_by_its_address() {
        let a: IpAddr = "198.18.0.1".parse().unwrap();
        let (k, v) = neighbor_of(a, r#"{"198.18.0.1":{"bgpState":"Active"}}"#).unwrap();
        assert_eq!(k, "198.18.0.1");
        assert_eq!(v["bgpState"], "Active");
        assert!(neighbor_of(a, r#"{"bgpNoSuchNeighbor":true}"#).is_none());
        assert!(neighbor_of(a, "% garbage").is_none());
    }
}
