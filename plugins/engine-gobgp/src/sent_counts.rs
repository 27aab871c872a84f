//! Whether a full look asks gobgpd for the routes sent to each peer.
//!
//! gobgpd 3.10 answers a ListPeer with `enable_advertised` by walking its
//! Loc-RIB's best paths through the export filter once per peer and family
//! (`getBestFromLocal`), inside its single main loop: meanwhile it serves
//! no other request and handles no UPDATE. So the cost of one listing
//! grows with Loc-RIB paths × peers (`benches/full_look.rs`), which at an
//! RR's full size is seconds to tens of seconds of stalled daemon per look.
//!
//! Before each full look [`SentCounting`] estimates that walk from the
//! previous look's figures ([`LookSize`]: the routes accepted from all
//! peers, summed, as the Loc-RIB size, times the peer count) and asks for
//! the counts only while it stays within `engine.gobgp.count_routes_sent_up_to`.
//! Otherwise the sessions' `routes_sent` is `None` (not counted). It
//! logs at warn level when it stops counting and again when it counts
//! again. Pure apart from that log: the decision is [`decide`].

use rrd_core::SessionStatus;

/// The figures of one look that a listing's cost follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookSize {
    /// Routes accepted from every peer, summed: an estimate of the
    /// Loc-RIB's paths (more than its best paths when several peers send
    /// the same prefix; routes originated in gobgpd itself are not in it).
    pub loc_rib_estimate: u64,
    /// Peers gobgpd holds (it walks the Loc-RIB for each, up or not).
    pub peers: u64,
}

impl LookSize {
    /// The figures of the sessions a look returned.
    pub fn of<'a>(sessions: impl IntoIterator<Item = &'a SessionStatus>) -> LookSize {
        let (mut loc_rib_estimate, mut peers) = (0u64, 0u64);
        for s in sessions {
            loc_rib_estimate = loc_rib_estimate.saturating_add(s.routes_received.unwrap_or(0));
            peers = peers.saturating_add(1);
        }
        LookSize {
            loc_rib_estimate,
            peers,
        }
    }

    /// Loc-RIB paths × peers: the paths gobgpd would filter to count the
    /// routes sent to every peer.
    pub fn walk(&self) -> u64 {
        self.loc_rib_estimate.saturating_mul(self.peers)
    }
}

/// Ask for the routes sent (`enable_advertised`) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Count,
    Skip,
}

/// The decision for the next full look: count when `limit` is not 0 and
/// either nothing is known yet (`previous` is `None`: the first look, or
/// the first after gobgpd restarted) or the previous look's walk is at
/// most `limit`.
pub fn decide(limit: u64, previous: Option<LookSize>) -> Decision {
    match previous {
        _ if limit == 0 => Decision::Skip,
        None => Decision::Count,
        Some(size) if size.walk() <= limit => Decision::Count,
        Some(_) => Decision::Skip,
    }
}

/// The decision over successive looks, logged when it changes.
#[derive(Debug)]
pub struct SentCounting {
    limit: u64,
    last: Option<Decision>,
}

impl SentCounting {
    pub fn new(limit: u64) -> SentCounting {
        SentCounting { limit, last: None }
    }

    /// Whether the next full look counts the routes sent, from the
    /// previous look's `previous` figures.
    pub fn next(&mut self, previous: Option<LookSize>) -> Decision {
        let decision = decide(self.limit, previous);
        if self.last != Some(decision) {
            self.log_change(decision, previous);
        }
        self.last = Some(decision);
        decision
    }

    /// The last decision (`Count` before the first look).
    pub fn current(&self) -> Decision {
        self.last.unwrap_or(Decision::Count)
    }

    fn log_change(&self, decision: Decision, previous: Option<LookSize>) {
        let (estimate, peers, walk) =
            previous.map_or((0, 0, 0), |s| (s.loc_rib_estimate, s.peers, s.walk()));
        match (decision, self.last) {
            (Decision::Skip, _) if self.limit == 0 => tracing::warn!(
                "routes sent to peers are not counted: engine.gobgp.count_routes_sent_up_to = 0"
            ),
            (Decision::Skip, _) => tracing::warn!(
                loc_rib_estimate = estimate,
                peers,
                walk,
                limit = self.limit,
                "routes sent to peers no longer counted: gobgpd would walk about {estimate} \
                 Loc-RIB paths x {peers} peers = {walk} per full look in its main loop, more \
                 than engine.gobgp.count_routes_sent_up_to = {}",
                self.limit
            ),
            // Counting from the start is the normal case: say nothing.
            (Decision::Count, None) => {}
            (Decision::Count, Some(_)) => tracing::warn!(
                loc_rib_estimate = estimate,
                peers,
                walk,
                limit = self.limit,
                "routes sent to peers counted again: about {estimate} Loc-RIB paths x {peers} \
                 peers = {walk}, within engine.gobgp.count_routes_sent_up_to = {}",
                self.limit
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(loc_rib_estimate: u64, peers: u64) -> Option<LookSize> {
        Some(LookSize {
            loc_rib_estimate,
            peers,
        })
    }

    #[test]
    fn the_first_look_counts_unless_counting_is_off() {
        assert_eq!(decide(1_000, None), Decision::Count);
        assert_eq!(decide(0, None), Decision::Skip);
        assert_eq!(decide(0, size(0, 0)), Decision::Skip, "0: never");
    }

    #[test]
    fn counts_while_paths_times_peers_stay_within_the_limit() {
        assert_eq!(decide(1_000, size(10, 100)), Decision::Count);
        assert_eq!(decide(1_000, size(11, 100)), Decision::Skip);
        assert_eq!(decide(1_000, size(100_000, 0)), Decision::Count);
        assert_eq!(
            decide(u64::MAX, size(u64::MAX, u64::MAX)),
            Decision::Count,
            "the walk saturates"
        );
        assert_eq!(decide(u64::MAX - 1, size(u64::MAX, 2)), Decision::Skip);
    }

    #[test]
    fn the_size_of_a_look_sums_the_accepted_routes_of_every_session() {
        let session = |n: u8, received: Option<u64>| SessionStatus {
            routes_received: received,
            ..rrd_core::testing::fixtures::established_session(n)
        };
        let s = LookSize::of(&[session(1, Some(40)), session(2, None), session(3, Some(2))]);
        assert_eq!(s, size(42, 3).unwrap());
        assert_eq!(s.walk(), 126);
        assert_eq!(LookSize::of(&[]).walk(), 0);
        assert_eq!(decide(1, Some(LookSize::of(&[]))), Decision::Count);
    }

    #[test]
    fn the_decision_follows_the_figures_both_ways() {
        let mut c = SentCounting::new(1_000);
        assert_eq!(c.current(), Decision::Count);
        assert_eq!(c.next(None), Decision::Count);
        assert_eq!(c.next(size(500, 3)), Decision::Skip);
        assert_eq!(c.current(), Decision::Skip);
        assert_eq!(c.next(size(500, 3)), Decision::Skip);
        assert_eq!(c.next(size(300, 3)), Decision::Count);
    }
}
