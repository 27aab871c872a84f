//! Shared by the integration tests: a watching source whose events are
//! recorded and folded into a topology, with deadline-bounded waits that
//! print what was seen when they fail.

#![allow(dead_code)]

use std::time::Duration;

use rrd_core::{EventSink, PeerSource, SourceEvent, SourceStatus, Topology};
use rrd_source_consul::{ConsulConfig, ConsulSource};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

pub struct Watch {
    pub rx: Receiver<SourceEvent>,
    task: JoinHandle<()>,
    /// The topology the events so far describe (`None` before a snapshot).
    pub store: Option<Topology>,
    /// Every event received, in order.
    pub log: Vec<SourceEvent>,
}

impl Watch {
    pub fn start(config: ConsulConfig, capacity: usize) -> Watch {
        let source = ConsulSource::new(config).expect("valid config");
        let (sink, rx) = EventSink::channel(capacity);
        Watch {
            rx,
            task: tokio::spawn(source.watch(sink)),
            store: None,
            log: Vec::new(),
        }
    }

    /// The next event before `deadline`, recorded and applied.
    pub async fn next_before(&mut self, deadline: Instant) -> Option<SourceEvent> {
        let e = timeout_at(deadline, self.rx.recv()).await.ok()??;
        match &e {
            SourceEvent::Snapshot(t) => self.store = Some(t.clone()),
            SourceEvent::Changes(cs) => {
                let store = self
                    .store
                    .as_mut()
                    .unwrap_or_else(|| panic!("changes before any snapshot: {:?}", self.log));
                for c in cs {
                    store.apply(c.clone());
                }
            }
            _ => {}
        }
        self.log.push(e.clone());
        Some(e)
    }

    /// Wait until an event matches.
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
                None => panic!("no {what} within {within:?}; events: {:#?}", self.log),
            }
        }
    }

    /// Wait until the folded topology equals `target`.
    pub async fn converge(&mut self, target: &Topology, within: Duration) {
        let deadline = Instant::now() + within;
        while self.store.as_ref() != Some(target) {
            if self.next_before(deadline).await.is_none() {
                panic!(
                    "did not converge within {within:?}\nwant: {target:#?}\nhave: {:#?}\nevents: {:#?}",
                    self.store,
                    self.log.iter().map(short).collect::<Vec<_>>()
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
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line per event, for failure output.
pub fn short(e: &SourceEvent) -> String {
    match e {
        SourceEvent::Snapshot(t) => format!(
            "Snapshot(nodes={} rrs={} peers={})",
            t.nodes.len(),
            t.route_reflectors.len(),
            t.peers.len()
        ),
        SourceEvent::Changes(cs) => format!("Changes({})", cs.len()),
        SourceEvent::Rejected { key, reason } => format!("Rejected({key}: {reason})"),
        SourceEvent::Status(s) => format!("Status({s:?})"),
    }
}

pub fn is_snapshot(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Snapshot(_))
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

/// Wait until the channel holds `n` unread events (the source is then
/// blocked on the next send when the capacity is `n`).
pub async fn wait_until_buffered(rx: &Receiver<SourceEvent>, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while rx.len() < n {
        assert!(
            Instant::now() < deadline,
            "the source never filled its channel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn is_data(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Snapshot(_) | SourceEvent::Changes(_))
}

/// Poll `cond` until it holds; panic with `what` after `within`.
pub async fn poll_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Watch {
    /// Record and apply every event already waiting, without waiting.
    pub fn drain_now(&mut self) -> Vec<SourceEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            match &e {
                SourceEvent::Snapshot(t) => self.store = Some(t.clone()),
                SourceEvent::Changes(cs) => {
                    if let Some(store) = self.store.as_mut() {
                        for c in cs {
                            store.apply(c.clone());
                        }
                    }
                }
                _ => {}
            }
            self.log.push(e.clone());
            out.push(e);
        }
        out
    }
}
