//! Consul's rules for blocking-query loops
//! (<https://developer.hashicorp.com/consul/api-docs/features/blocking>,
//! "Implementation Details"), kept apart from transport so they can be
//! tested on their own:
//!
//! * **the index may go backwards** (a snapshot restore, a reaped tombstone
//!   of the key that held the highest index, an upgrade): reset it to 0,
//!   which makes the next query a plain read, and start over;
//! * **the index must be greater than zero**: an `X-Consul-Index` of 0 is a
//!   Consul bug that turns a loop into a busy loop; block at index 1
//!   instead;
//! * **a return is no guarantee of a change** (the wait ran out, or an
//!   idempotent write): an unchanged index means an unchanged prefix;
//! * **rate limit** the loop with a token bucket of burst two, so that a
//!   quiet prefix is never delayed but a churning one degrades into
//!   polling at a bounded rate.

use std::time::Duration;

use tokio::time::Instant;

/// What one answer's `X-Consul-Index` means for the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The first answer since the start or a reset: a complete read.
    First,
    /// A higher index: something below the prefix may have changed.
    Advanced,
    /// The same index: the wait ran out or the wake-up was spurious; the
    /// prefix is unchanged.
    Unchanged,
    /// A lower index: the answer is not comparable to what was read
    /// before; the index was reset and the next query re-reads.
    WentBack { from: u64, to: u64 },
    /// An index of 0, which Consul must never send: the answer cannot be
    /// compared with anything, so it is used as a complete read and the
    /// next query blocks at index 1.
    Zero,
}

/// The index a blocking loop waits at.
#[derive(Clone, Debug, Default)]
pub(crate) struct IndexTracker {
    /// 0: no answer yet (or reset): the next query does not block.
    last: u64,
}

impl IndexTracker {
    /// The `?index=` of the next query; 0 means "do not block".
    pub fn query_index(&self) -> u64 {
        self.last
    }

    /// Account for an answer's `X-Consul-Index`.
    pub fn observe(&mut self, index: u64) -> Seen {
        if index == 0 {
            self.last = 1;
            return Seen::Zero;
        }
        let from = self.last;
        if from == 0 {
            self.last = index;
            Seen::First
        } else if index < from {
            self.last = 0;
            Seen::WentBack { from, to: index }
        } else if index == from {
            Seen::Unchanged
        } else {
            self.last = index;
            Seen::Advanced
        }
    }
}

/// A token bucket of `burst` queries refilled at one per `interval`
/// (a generic cell rate algorithm: no timer runs while the bucket is full).
#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: u32,
    /// When the bucket would be full again ("theoretical arrival time").
    full_at: Option<Instant>,
}

impl RateLimiter {
    /// Burst two, as Consul's documentation suggests.
    pub fn new(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            burst: 2,
            full_at: None,
        }
    }

    /// How long the next query must wait; takes its token.
    pub fn take(&mut self) -> Duration {
        let now = Instant::now();
        let full_at = self.full_at.map_or(now, |t| t.max(now));
        let window = self.interval * (self.burst - 1);
        // A token is free once at most burst-1 intervals remain to "full".
        let allowed_at = full_at.checked_sub(window).unwrap_or(now).max(now);
        self.full_at = Some(full_at.max(allowed_at) + self.interval);
        allowed_at - now
    }

    /// Wait for a token.
    pub async fn acquire(&mut self) {
        let d = self.take();
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_that_goes_backwards_resets_the_loop_to_a_plain_read() {
        let mut t = IndexTracker::default();
        assert_eq!(t.query_index(), 0);
        assert_eq!(t.observe(40), Seen::First);
        assert_eq!(t.query_index(), 40);
        assert_eq!(t.observe(40), Seen::Unchanged);
        assert_eq!(t.observe(45), Seen::Advanced);
        assert_eq!(t.query_index(), 45);
        assert_eq!(t.observe(12), Seen::WentBack { from: 45, to: 12 });
        assert_eq!(t.query_index(), 0, "after a reset the next query re-reads");
        assert_eq!(t.observe(12), Seen::First);
        assert_eq!(t.query_index(), 12);
    }

    #[test]
    fn an_index_of_zero_is_never_used_to_block() {
        let mut t = IndexTracker::default();
        assert_eq!(t.observe(0), Seen::Zero);
        assert_eq!(t.query_index(), 1);
        assert_eq!(t.observe(7), Seen::Advanced);
        assert_eq!(t.observe(0), Seen::Zero);
        assert_eq!(t.query_index(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_lets_two_queries_through_then_one_per_interval() {
        let i = Duration::from_secs(5);
        let mut r = RateLimiter::new(i);
        assert_eq!(r.take(), Duration::ZERO);
        assert_eq!(r.take(), Duration::ZERO);
        assert_eq!(r.take(), i);
        // The caller waits for it.
        tokio::time::advance(i).await;
        assert_eq!(r.take(), i);
        tokio::time::advance(i).await;
        // A quiet spell refills the bucket, but never beyond two.
        tokio::time::advance(i * 10).await;
        assert_eq!(r.take(), Duration::ZERO);
        assert_eq!(r.take(), Duration::ZERO);
        assert_eq!(r.take(), i);
    }

    #[tokio::test(start_paused = true)]
    async fn queries_spaced_wider_than_the_interval_are_never_delayed() {
        let i = Duration::from_secs(5);
        let mut r = RateLimiter::new(i);
        for _ in 0..10 {
            assert_eq!(r.take(), Duration::ZERO);
            tokio::time::advance(i * 2).await;
        }
        // Exactly one interval apart: still within the bucket.
        for _ in 0..10 {
            assert_eq!(r.take(), Duration::ZERO);
            tokio::time::advance(i).await;
        }
    }
}
