//! When to apply datastore changes: at once after a quiet period, batched
//! while they come in bursts.
//!
//! A change that arrives when none came for `quiet` is applied at once: an
//! operator adding one node does not wait out a timer. A change that
//! follows another within `quiet` belongs to a burst: it waits until the
//! burst has been quiet for `quiet`, but never longer than `max` after the
//! first change of the batch, so a steady stream is applied every `max`.
//! A burst of 1,000 changes in one second (the defaults: `quiet` 200 ms,
//! `max` 500 ms) thus makes three or four applies: the first change at
//! once, the next ones every `max` while the burst lasts (what arrived
//! during a long apply is applied at once after it: the loop saw no change
//! for longer than `quiet`), the rest `quiet` after the last. A daemon
//! that takes seconds to add a thousand peers (gobgpd) starts on the burst
//! while it still comes in.

use std::time::Duration;

use tokio::time::Instant;

/// The debounce state of the reconciler.
#[derive(Clone, Debug)]
pub struct Debounce {
    quiet: Duration,
    max: Duration,
    last_change: Option<Instant>,
    pending: Option<Pending>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    first: Instant,
    last: Instant,
    /// The batch began after a quiet period: apply at once.
    at_once: bool,
}

impl Debounce {
    pub fn new(quiet: Duration, max: Duration) -> Debounce {
        Debounce {
            quiet,
            max,
            last_change: None,
            pending: None,
        }
    }

    /// A change arrived at `now`.
    pub fn changed(&mut self, now: Instant) {
        let quiet_before = self
            .last_change
            .is_none_or(|t| now.saturating_duration_since(t) >= self.quiet);
        self.last_change = Some(now);
        self.pending = Some(match self.pending {
            Some(p) => Pending { last: now, ..p },
            None => Pending {
                first: now,
                last: now,
                at_once: quiet_before,
            },
        });
    }

    /// When the pending changes are due; `None` when nothing is pending.
    pub fn due(&self) -> Option<Instant> {
        self.pending.map(|p| {
            if p.at_once {
                p.first
            } else {
                (p.last + self.quiet).min(p.first + self.max)
            }
        })
    }

    /// The pending changes are applied now.
    pub fn take(&mut self) {
        self.pending = None;
    }

    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn a_change_after_a_quiet_period_is_due_at_once() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Q, MAX);
        d.changed(t0);
        assert_eq!(d.due(), Some(t0));
        d.take();
        let later = t0 + Duration::from_millis(500);
        d.changed(later);
        assert_eq!(d.due(), Some(later));
    }

    #[test]
    fn a_burst_waits_for_quiet_after_its_last_change() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Q, MAX);
        d.changed(t0);
        d.take(); // applied at once
        let mut last = t0;
        for i in 1..1000u64 {
            last = t0 + Duration::from_millis(i);
            d.changed(last);
        }
        assert_eq!(d.due(), Some(last + Q));
    }

    #[test]
    fn a_steady_stream_is_applied_every_max() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Q, MAX);
        d.changed(t0);
        d.take();
        let first = t0 + Duration::from_millis(50);
        for i in 0..100u64 {
            d.changed(first + Duration::from_millis(50 * i));
        }
        assert_eq!(d.due(), Some(first + MAX));
    }

    #[test]
    fn nothing_pending_is_never_due() {
        let mut d = Debounce::new(Q, MAX);
        assert_eq!(d.due(), None);
        d.changed(Instant::now());
        d.take();
        assert!(!d.is_pending());
        assert_eq!(d.due(), None);
    }
}
