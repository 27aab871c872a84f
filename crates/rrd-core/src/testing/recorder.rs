//! The event recorder every source's integration tests use: a source
//! watching in a task of the test's runtime, each event it emits recorded
//! and folded into the topology it describes, and deadline-bounded waits
//! that print what was seen when they fail (no sleeps as synchronisation).

use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use crate::{EventSink, PeerSource, SourceEvent, SourceStatus, Topology};

/// A watching source and everything it emitted so far.
#[derive(Debug)]
pub struct Recorder {
    pub rx: Receiver<SourceEvent>,
    task: JoinHandle<()>,
    /// The topology the events so far describe (`None` before a snapshot).
    pub store: Option<Topology>,
    /// Every event received, in order.
    pub log: Vec<SourceEvent>,
}

impl Recorder {
    /// Start `source.watch` in a task, its sink holding `capacity` events.
    pub fn start<S: PeerSource>(source: S, capacity: usize) -> Recorder {
        let (sink, rx) = EventSink::channel(capacity);
        Recorder {
            rx,
            task: tokio::spawn(source.watch(sink)),
            store: None,
            log: Vec::new(),
        }
    }

    fn record(&mut self, e: &SourceEvent) {
        match e {
            SourceEvent::Snapshot(t) => self.store = Some(t.clone()),
            SourceEvent::Changes(cs) => {
                let Some(store) = self.store.as_mut() else {
                    panic!("changes before any snapshot: {:#?}", self.short_log());
                };
                for c in cs {
                    store.apply(c.clone());
                }
            }
            _ => {}
        }
        self.log.push(e.clone());
    }

    /// The next event before `deadline`, recorded and applied.
    pub async fn next_before(&mut self, deadline: Instant) -> Option<SourceEvent> {
        let e = timeout_at(deadline, self.rx.recv()).await.ok()??;
        self.record(&e);
        Some(e)
    }

    /// Record and apply every event already waiting, without waiting.
    pub fn drain_now(&mut self) -> Vec<SourceEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            self.record(&e);
            out.push(e);
        }
        out
    }

    /// Wait until an event matches; panics with the log after `within`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&SourceEvent) -> bool,
    ) -> SourceEvent {
        let deadline = Instant::now() + within;
        loop {
            match self.next_before(deadline).await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!(
                    "no {what} within {within:?}; events: {:#?}",
                    self.short_log()
                ),
            }
        }
    }

    /// An event seen already, or the next one that matches.
    pub async fn seen_or_wait(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&SourceEvent) -> bool,
    ) -> SourceEvent {
        if let Some(e) = self.log.iter().find(|e| pred(e)) {
            return e.clone();
        }
        self.wait_for(what, within, pred).await
    }

    /// Wait until the folded topology equals `target`.
    pub async fn converge(&mut self, target: &Topology, within: Duration) {
        let deadline = Instant::now() + within;
        while self.store.as_ref() != Some(target) {
            if self.next_before(deadline).await.is_none() {
                panic!(
                    "did not converge within {within:?}\nwant: {target:#?}\nhave: {:#?}\nevents: {:#?}",
                    self.store,
                    self.short_log()
                );
            }
        }
    }

    /// Everything that arrives during `d`.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<SourceEvent> {
        let deadline = Instant::now() + d;
        let mut out = Vec::new();
        while let Some(e) = self.next_before(deadline).await {
            out.push(e);
        }
        out
    }

    /// Wait until the channel holds `n` unread events (the source is then
    /// blocked on its next send when the capacity is `n`).
    pub async fn wait_until_buffered(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.rx.len() < n {
            assert!(
                Instant::now() < deadline,
                "the source never filled its channel"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One line per event, for failure output.
    pub fn short_log(&self) -> Vec<String> {
        self.log.iter().map(short).collect()
    }

    pub fn count(&self, pred: impl Fn(&SourceEvent) -> bool) -> usize {
        self.log.iter().filter(|e| pred(e)).count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line per event, for failure output (never a secret's value).
pub fn short(e: &SourceEvent) -> String {
    match e {
        SourceEvent::Snapshot(t) => format!(
            "Snapshot(nodes={} rrs={} peers={} secrets={})",
            t.nodes.len(),
            t.route_reflectors.len(),
            t.peers.len(),
            t.secrets.len()
        ),
        SourceEvent::Changes(cs) if cs.len() <= 20 => format!("Changes({cs:?})"),
        SourceEvent::Changes(cs) => format!("Changes({} changes)", cs.len()),
        SourceEvent::Rejected { key, reason } => format!("Rejected({key}: {reason})"),
        SourceEvent::Resolved { key } => format!("Resolved({key})"),
        SourceEvent::Status(s) => format!("Status({s:?})"),
    }
}

pub fn is_snapshot(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Snapshot(_))
}

pub fn is_data(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Snapshot(_) | SourceEvent::Changes(_))
}

pub fn is_unreachable(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Status(SourceStatus::Unreachable { .. }))
}

pub fn is_connected(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Status(SourceStatus::Connected))
}

pub fn is_resyncing(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Status(SourceStatus::Resyncing { .. }))
}

/// Poll `cond` until it holds; panic with `what` after `within`.
pub async fn poll_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
