//! The invariant checked throughout a schedule, not only between faults:
//! every session the desired state holds stays configured in BIRD. A
//! thread reads the RR's `show protocols` every 100 ms and records each
//! sample that misses one (a removal and re-creation between two samples
//! shows up as a changed "since" of an Established client session, which
//! the steps check).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rrd_lab::bins;
use rrd_lab::calico_client::birdc;

/// Violations kept (the first ones say what went wrong).
const KEEP: usize = 20;

#[derive(Debug, Default)]
struct Shared {
    /// Sessions that must be in BIRD at every sample.
    must_hold: BTreeSet<String>,
    /// No sampling (BIRD itself is being killed and restarted).
    paused: bool,
    violations: Vec<String>,
    samples: u64,
}

/// The sampling thread; stopped on drop.
#[derive(Debug)]
pub struct Watcher {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Our sessions in a `show protocols` reply; `None` when BIRD did not
/// answer (no table header).
pub fn bird_sessions(socket: &std::path::Path) -> Option<BTreeSet<String>> {
    let text = birdc(&bins::birdc2(), socket, "show protocols");
    text.contains("Name")
        .then(|| rrd_lab::since::sessions(&text).into_keys().collect())
}

impl Watcher {
    pub fn start(socket: PathBuf) -> Watcher {
        let shared = Arc::new(Mutex::new(Shared {
            paused: true,
            ..Shared::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let must_hold = {
                        let s = shared.lock().expect("watcher state");
                        (!s.paused).then(|| s.must_hold.clone())
                    };
                    if let Some(must_hold) = must_hold {
                        let seen = bird_sessions(&socket);
                        let mut s = shared.lock().expect("watcher state");
                        // Paused meanwhile: this sample does not count.
                        if !s.paused {
                            if let Some(seen) = seen {
                                s.samples += 1;
                                let missing: Vec<_> = must_hold.difference(&seen).collect();
                                if !missing.is_empty() && s.violations.len() < KEEP {
                                    let at = jiff::Zoned::now().strftime("%H:%M:%S%.3f");
                                    let v = format!(
                                        "{at}: desired sessions missing from BIRD: {missing:?}"
                                    );
                                    s.violations.push(v);
                                }
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Watcher {
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Check `must_hold` from now on.
    pub fn hold(&self, must_hold: BTreeSet<String>) {
        let mut s = self.shared.lock().expect("watcher state");
        s.must_hold = must_hold;
        s.paused = false;
    }

    pub fn pause(&self) {
        self.shared.lock().expect("watcher state").paused = true;
    }

    /// Violations seen and samples checked since the last call (both
    /// cleared). A sample counts when BIRD answered it.
    pub fn take(&self) -> (Vec<String>, u64) {
        let mut s = self.shared.lock().expect("watcher state");
        (
            std::mem::take(&mut s.violations),
            std::mem::take(&mut s.samples),
        )
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
