//! Waiting without sleeping as synchronisation: poll a condition until a
//! deadline, and say what was last seen when it fails.

use std::time::{Duration, Instant};

/// Poll `probe` every 100 ms until it returns `Ok`, or panic after
/// `timeout` with `what` and the last `Err` it returned.
pub fn until<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    until_every(what, timeout, Duration::from_millis(100), probe)
}

/// [`until`] with a chosen polling interval (finer for measurements).
pub fn until_every<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe() {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen:\n{last}"
        );
        std::thread::sleep(every);
    }
}

/// Like [`until`], polling every 5 ms: for measuring latencies.
pub fn until_fast<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    until_every(what, timeout, Duration::from_millis(5), probe)
}
