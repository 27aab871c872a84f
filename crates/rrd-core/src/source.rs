//! The source contract: where topology comes from.
//!
//! A source reads its datastore completely, emits one
//! [`SourceEvent::Snapshot`], then watches from exactly the revision it read
//! and emits [`SourceEvent::Changes`]. When it loses its watch history
//! (etcd v2 401, etcd v3 compaction, Kubernetes 410) it re-reads and emits a
//! new snapshot. Problems are events, not the end of the stream: a bad key is
//! a [`SourceEvent::Rejected`], a lost connection a [`SourceEvent::Status`].
//! A source never reports an empty topology because a read failed.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{RuleSet, Topology, TopologyChange};

/// What a source is, for logs, status and `rrd check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// `file`, `etcdv2`, `etcdv3`, `kubernetes`, `consul`.
    pub kind: &'static str,
    /// Path, endpoints or API server.
    pub location: String,
    /// The rule set the data implies, when known before reading.
    pub rules: Option<RuleSet>,
}

/// Connection health, as the source sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// Talking to the datastore; changes flow.
    Connected,
    /// Cannot reach the datastore; the last snapshot stays authoritative.
    Unreachable { error: String, retry_in: Duration },
    /// Watch history lost; a full re-read is under way.
    Resyncing { reason: String },
    /// The source found out what exactly it reads (the Kubernetes source:
    /// which API group serves Calico's resources): the location status
    /// shows from now on.
    Located { location: String },
}

/// One item of a source's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// A complete, consistent read: replaces everything known before.
    Snapshot(Topology),
    /// Changes since the last snapshot or batch, in order.
    Changes(Vec<TopologyChange>),
    /// One key or object could not be decoded and was skipped; the rest of
    /// the topology is unaffected.
    Rejected {
        key: String,
        reason: String,
    },
    /// A key reported [`SourceEvent::Rejected`] is gone, or decodes again:
    /// its rejection is no longer news.
    Resolved {
        key: String,
    },
    Status(SourceStatus),
}

/// How much of a datastore's text an error or log line repeats.
pub const MAX_ECHO_BYTES: usize = 256;

/// `text` as a message may repeat it: at most [`MAX_ECHO_BYTES`] (cut at a
/// character boundary), saying how many bytes were left out. A bad value of
/// a megabyte must not become a megabyte of log per event, nor of status.
pub fn bounded_echo(text: &str) -> String {
    if text.len() <= MAX_ECHO_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_ECHO_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end)
}

/// Why a source operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach {location}: {detail}")]
    Unreachable {
        location: String,
        detail: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("{location}: {detail}")]
    Invalid { location: String, detail: String },
    #[error("{operation} failed: {source}")]
    Failed {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_echo_keeps_short_text_and_cuts_long_text_saying_how_much() {
        assert_eq!(bounded_echo("ip_addr_v4"), "ip_addr_v4");
        let long = "x".repeat(1 << 20);
        let echoed = bounded_echo(&long);
        assert!(echoed.len() < 300, "{}", echoed.len());
        assert!(echoed.ends_with(&format!("... ({} more bytes)", (1 << 20) - 256)));
        // A multi-byte character across the cut is not split.
        let text = format!("{}é{}", "a".repeat(255), "b".repeat(300));
        assert!(bounded_echo(&text).starts_with(&"a".repeat(255)));
        assert!(bounded_echo(&text).contains("(302 more bytes)"));
    }
}

impl SourceError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Unreachable { .. })
    }
}

/// The sending half a source's watch loop writes to.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: mpsc::Sender<SourceEvent>,
}

/// The receiver side went away; the source should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the runtime stopped listening to this source")]
pub struct SinkClosed;

impl EventSink {
    /// A sink and the receiver the runtime reads from.
    pub fn channel(capacity: usize) -> (EventSink, mpsc::Receiver<SourceEvent>) {
        let (tx, rx) = mpsc::channel(capacity);
        (EventSink { tx }, rx)
    }

    pub async fn send(&self, event: SourceEvent) -> Result<(), SinkClosed> {
        self.tx.send(event).await.map_err(|_| SinkClosed)
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A datastore that describes the fabric.
///
/// Implementations: file, etcd (v2 and v3 API), Kubernetes, Consul.
pub trait PeerSource: Send + 'static {
    fn info(&self) -> SourceInfo;

    /// One complete, consistent read (`rrd render`, `rrd check`).
    fn snapshot(&mut self) -> impl Future<Output = Result<Topology, SourceError>> + Send;

    /// Read, then watch from the revision read, forever: emit a
    /// [`SourceEvent::Snapshot`] first, then changes. Returns only when the
    /// sink is closed. Retries on its own (with backoff) and reports
    /// trouble as [`SourceEvent::Status`].
    fn watch(self, sink: EventSink) -> impl Future<Output = ()> + Send;
}
