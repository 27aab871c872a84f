//! Latency samples and their summary (p50 / p99 / max, nearest rank).

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::profile::Sample;

/// Every isolated sample as a CSV line (`--samples-out`), to be joined
/// with rrd's and the daemon's logs by time: `run,kind,address,
/// write_unix_us,acked_us,latency_us,seen_by` (`acked_us`: when etcd
/// answered the write; `event`: seen through GoBGP's peer event, `poll`:
/// the daemon asked every millisecond).
pub struct SampleLog {
    file: Option<std::fs::File>,
    run: String,
}

impl SampleLog {
    pub fn open(path: Option<&Path>, run: &str) -> anyhow::Result<SampleLog> {
        let file = match path {
            None => None,
            Some(path) => {
                let new = !path.exists();
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                if new {
                    writeln!(
                        f,
                        "run,kind,address,write_unix_us,acked_us,latency_us,seen_by"
                    )?;
                }
                Some(f)
            }
        };
        Ok(SampleLog {
            file,
            run: run.to_owned(),
        })
    }

    pub fn record(
        &mut self,
        sample: &Sample,
        address: IpAddr,
        by_event: bool,
    ) -> anyhow::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let at = sample
            .written
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_micros();
        let seen_by = if by_event { "event" } else { "poll" };
        writeln!(
            f,
            "{},{},{address},{at},{},{},{seen_by}",
            self.run,
            sample.kind,
            sample.acked.as_micros(),
            sample.took.as_micros()
        )?;
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<Duration>);

/// p50 / p99 / max of a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl FromIterator<Duration> for Samples {
    fn from_iter<I: IntoIterator<Item = Duration>>(iter: I) -> Samples {
        Samples(iter.into_iter().collect())
    }
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn summary(&self) -> Summary {
        let mut v = self.0.clone();
        v.sort();
        let rank = |q: f64| -> Duration {
            if v.is_empty() {
                return Duration::ZERO;
            }
            let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[i - 1]
        };
        Summary {
            count: v.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {} / {}", ms(self.p50), ms(self.p99), ms(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=200 {
            s.push(Duration::from_millis(i));
        }
        let sum = s.summary();
        assert_eq!(sum.p50, Duration::from_millis(100));
        assert_eq!(sum.p99, Duration::from_millis(198));
        assert_eq!(sum.max, Duration::from_millis(200));
    }
}
