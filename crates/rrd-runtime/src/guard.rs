//! The mass-change guard's arithmetic: how many held sessions a plan would
//! tear down or reset, and whether that, added to what was applied within
//! the last `window`, is too much at once.
//!
//! A session removed and a session reset cost the fabric the same (the
//! session restarts, its routes are withdrawn), so both count: this RR's
//! own registration deleted or refused makes every session change
//! (standalone, no cluster id) without removing one. Counting over a window
//! catches a wipe done in steps (10 -> 6 -> 3 -> 0 sessions), each step
//! under the threshold on its own.

use std::collections::VecDeque;
use std::time::Duration;

use rrd_core::Plan;
use tokio::time::Instant;

use crate::settings::MassRemovalSettings;

/// What a plan does to the sessions the daemon holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disruption {
    /// Held sessions the plan removes.
    pub removes: usize,
    /// Held sessions the plan changes (every one when the router settings
    /// change: router id, AS or addresses restart every session).
    pub resets: usize,
}

impl Disruption {
    pub fn of(plan: &Plan, held_sessions: usize) -> Disruption {
        let resets = if plan.router.is_some() {
            held_sessions.saturating_sub(plan.remove.len())
        } else {
            plan.update.len()
        };
        Disruption {
            removes: plan.remove.len(),
            resets,
        }
    }

    pub fn total(self) -> usize {
        self.removes + self.resets
    }
}

/// The guard's verdict on one plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Too much: `earlier` sessions were already disrupted within the
    /// window, out of `baseline` held at its start.
    TooMuch {
        earlier: usize,
        baseline: usize,
    },
}

/// What was applied within the window.
#[derive(Debug, Default)]
pub struct MassChangeGuard {
    /// (when, sessions disrupted, sessions held before), oldest first.
    applied: VecDeque<(Instant, usize, usize)>,
}

impl MassChangeGuard {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, ..)) = self.applied.front() {
            if now.duration_since(*at) < window {
                break;
            }
            self.applied.pop_front();
        }
    }

    /// Judge a plan disrupting `disruption` of `held_sessions`.
    pub fn judge(
        &mut self,
        settings: &MassRemovalSettings,
        now: Instant,
        disruption: Disruption,
        held_sessions: usize,
    ) -> Verdict {
        self.expire(now, settings.window);
        let earlier: usize = self.applied.iter().map(|(_, n, _)| n).sum();
        let baseline = self
            .applied
            .iter()
            .map(|(_, _, held)| *held)
            .chain([held_sessions])
            .max()
            .unwrap_or(held_sessions);
        let counted = earlier + disruption.total();
        if baseline >= settings.min_sessions
            && disruption.total() > 0
            && counted as f64 > settings.threshold * baseline as f64
        {
            Verdict::TooMuch { earlier, baseline }
        } else {
            Verdict::Pass
        }
    }

    /// A plan was applied: it counts against the window.
    pub fn applied(
        &mut self,
        settings: &MassRemovalSettings,
        now: Instant,
        disruption: Disruption,
        held_sessions: usize,
    ) {
        if settings.window.is_zero() || disruption.total() == 0 {
            return;
        }
        self.applied
            .push_back((now, disruption.total(), held_sessions));
    }

    /// The operator confirmed (or time released) a mass change: what came
    /// before it no longer counts.
    pub fn confirmed(&mut self) {
        self.applied.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(window: u64) -> MassRemovalSettings {
        MassRemovalSettings {
            window: Duration::from_secs(window),
            ..MassRemovalSettings::default()
        }
    }

    fn removes(n: usize) -> Disruption {
        Disruption {
            removes: n,
            resets: 0,
        }
    }

    #[test]
    fn a_wipe_in_steps_is_caught_within_the_window_and_not_after_it() {
        let s = settings(600);
        let mut g = MassChangeGuard::default();
        let t0 = Instant::now();
        assert_eq!(g.judge(&s, t0, removes(4), 10), Verdict::Pass);
        g.applied(&s, t0, removes(4), 10);
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(
            g.judge(&s, t1, removes(3), 6),
            Verdict::TooMuch {
                earlier: 4,
                baseline: 10
            }
        );
        // Once the first step left the window, the second is judged alone.
        let later = t0 + Duration::from_secs(600);
        assert_eq!(g.judge(&s, later, removes(3), 6), Verdict::Pass);
    }

    #[test]
    fn without_a_window_each_step_is_judged_alone() {
        let s = settings(0);
        let mut g = MassChangeGuard::default();
        let t0 = Instant::now();
        for (n, held) in [(4, 10), (3, 6)] {
            assert_eq!(g.judge(&s, t0, removes(n), held), Verdict::Pass);
            g.applied(&s, t0, removes(n), held);
        }
    }

    #[test]
    fn resets_count_like_removals_and_a_router_change_resets_every_session() {
        let s = settings(600);
        let mut g = MassChangeGuard::default();
        let plan = Plan {
            router: Some(rrd_core::RouterSettings {
                rules: rrd_core::RuleSet::Legacy,
                router_id: "198.51.100.10".parse().unwrap(),
                local_as: rrd_core::Asn(64512),
                cluster_id: None,
                ipv4: None,
                ipv6: None,
                listen_port: None,
            }),
            ..Plan::default()
        };
        let d = Disruption::of(&plan, 6);
        assert_eq!(
            d,
            Disruption {
                removes: 0,
                resets: 6
            }
        );
        assert!(matches!(
            g.judge(&s, Instant::now(), d, 6),
            Verdict::TooMuch { .. }
        ));
    }

    #[test]
    fn small_rrs_and_empty_plans_pass() {
        let s = settings(600);
        let mut g = MassChangeGuard::default();
        assert_eq!(g.judge(&s, Instant::now(), removes(3), 3), Verdict::Pass);
        assert_eq!(
            g.judge(&s, Instant::now(), Disruption::default(), 10),
            Verdict::Pass
        );
    }
}
