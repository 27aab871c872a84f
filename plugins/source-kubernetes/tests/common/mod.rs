//! Shared by the integration tests: a watching source whose events are
//! recorded and folded into a topology, deadline-bounded waits that print
//! what was seen when they fail, and views of the in-test server's log.

#![allow(dead_code)]

use std::time::Duration;

use rrd_core::{EventSink, PeerSource, SourceEvent, SourceStatus, Topology};
use rrd_source_kubernetes::testing::{FakeApiServer, RecordedRequest, Resource};
use rrd_source_kubernetes::{KubernetesConfig, KubernetesSource};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

pub const WITHIN: Duration = Duration::from_secs(15);

pub struct Watch {
    pub rx: Receiver<SourceEvent>,
    task: JoinHandle<()>,
    /// The topology the events so far describe (`None` before a snapshot).
    pub store: Option<Topology>,
    /// Every event received, in order.
    pub log: Vec<SourceEvent>,
}

impl Watch {
    pub fn start(config: KubernetesConfig) -> Watch {
        let source = KubernetesSource::new(config).expect("valid config");
        let (sink, rx) = EventSink::channel(256);
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
                let Some(store) = self.store.as_mut() else {
                    panic!("changes before any snapshot: {:?}", self.log);
                };
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
        pred: impl Fn(&SourceEvent) -> bool,
    ) -> SourceEvent {
        let deadline = Instant::now() + WITHIN;
        loop {
            match self.next_before(deadline).await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!(
                    "no {what} within {WITHIN:?}; events: {:#?}",
                    self.short_log()
                ),
            }
        }
    }

    /// An event seen already, or the next one that matches.
    pub async fn seen_or_wait(
        &mut self,
        what: &str,
        pred: impl Fn(&SourceEvent) -> bool,
    ) -> SourceEvent {
        if let Some(e) = self.log.iter().find(|e| pred(e)) {
            return e.clone();
        }
        self.wait_for(what, pred).await
    }

    /// Wait until the folded topology equals `target`.
    pub async fn converge(&mut self, target: &Topology) {
        let deadline = Instant::now() + WITHIN;
        while self.store.as_ref() != Some(target) {
            if self.next_before(deadline).await.is_none() {
                panic!(
                    "did not converge within {WITHIN:?}\nwant: {target:#?}\nhave: {:#?}\nevents: {:#?}",
                    self.store,
                    self.short_log()
                );
            }
        }
    }

    pub fn short_log(&self) -> Vec<String> {
        self.log.iter().map(short).collect()
    }

    pub fn count(&self, pred: impl Fn(&SourceEvent) -> bool) -> usize {
        self.log.iter().filter(|e| pred(e)).count()
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
            "Snapshot(nodes={} peers={} secrets={})",
            t.nodes.len(),
            t.peers.len(),
            t.secrets.len()
        ),
        SourceEvent::Changes(cs) => format!("Changes({cs:?})"),
        SourceEvent::Rejected { key, reason } => format!("Rejected({key}: {reason})"),
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

/// The server's requests for one resource.
pub fn requests_for(server: &FakeApiServer, resource: Resource) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.resource() == Some(resource))
        .collect()
}

pub fn lists_of(server: &FakeApiServer, resource: Resource) -> usize {
    requests_for(server, resource)
        .iter()
        .filter(|r| !r.is_watch())
        .count()
}

pub fn watches_of(server: &FakeApiServer, resource: Resource) -> Vec<RecordedRequest> {
    requests_for(server, resource)
        .into_iter()
        .filter(RecordedRequest::is_watch)
        .collect()
}

/// Poll the server's request log until `pred` holds.
pub async fn wait_for_requests(
    server: &FakeApiServer,
    what: &str,
    pred: impl Fn(&[RecordedRequest]) -> bool,
) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let requests = server.requests();
        if pred(&requests) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {WITHIN:?}; requests: {requests:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
