//! [`EtcdSource`]: the [`PeerSource`] over etcd, v2 or v3 API.
//!
//! Watch loop, per cycle: full read (v2 recursive GET and its
//! `X-Etcd-Index`; v3 paged range at one revision, each page decoded as it
//! arrives) -> first time a `Snapshot`, later the *diff* against what was
//! emitted -> watch from
//! exactly the index/revision read (v2 long poll at `waitIndex`, advanced
//! past each event's `modifiedIndex`; v3 watch from `revision + 1`).
//! History loss (v2 401 "EventIndexCleared", v3 compaction) reports
//! `Resyncing` and starts the next cycle at once; any other failure reports
//! `Unreachable { retry_in }` and starts it after an exponential backoff
//! with jitter. A failed read never produces an event other than a status:
//! the last topology stays authoritative.

use std::net::IpAddr;

use rrd_core::{
    bounded_echo, EventSink, PeerSource, RuleSet, SourceError, SourceEvent, SourceInfo,
    SourceStatus, Topology,
};
use rrd_source_kit::Backoff;
use tracing::{debug, info, warn};

use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::error::EtcdError;
use crate::layout::{LayoutStore, Reread, StoreUpdate};
use crate::v2::{V2Client, V2Event, WatchOutcome};
use crate::v3::V3Client;

/// The etcd source. Cheap to create; connects when read.
#[derive(Debug, Clone)]
pub struct EtcdSource {
    config: EtcdConfig,
    /// The addresses of the one RR whose data is kept (calico-v1).
    scope: Option<Vec<IpAddr>>,
}

impl EtcdSource {
    /// Validate the configuration and check that TLS and password files
    /// are readable.
    pub fn new(config: EtcdConfig) -> Result<EtcdSource, EtcdError> {
        config.validate()?;
        config.tls_files()?;
        config.credentials()?;
        Ok(EtcdSource {
            config,
            scope: None,
        })
    }

    /// Keep only what the route reflector at `own` addresses needs
    /// (calico-v1: peer records naming it, and only its clients in the
    /// topology; see `rrd_layouts::calico_v1::LegacyStore::scoped`). Its
    /// configuration is the same as from the whole fabric; `rrd run` reads
    /// this way, while commands about the whole fabric (`check`, `render`
    /// of any RR) do not.
    pub fn scoped_to(mut self, own: impl IntoIterator<Item = IpAddr>) -> EtcdSource {
        self.scope = Some(own.into_iter().collect());
        self
    }

    pub fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// One complete read, with the rejected keys beside it.
    pub async fn read(&self) -> Result<(Topology, Vec<(String, String)>), EtcdError> {
        let empty = LayoutStore::new(&self.config, self.scope.as_deref());
        let (reread, _) = read_all(&self.config, &empty).await?;
        let (_, topology, rejected) = LayoutStore::first(reread);
        Ok((topology, rejected))
    }
}

fn source_error(config: &EtcdConfig, e: EtcdError) -> SourceError {
    rrd_source_kit::source_error(config.endpoints.join(","), e)
}

impl PeerSource for EtcdSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: self.config.kind(),
            location: format!(
                "{} {}",
                self.config.endpoints.join(","),
                self.config.prefix()
            ),
            rules: Some(match self.config.layout {
                Layout::CalicoV1 => RuleSet::Legacy,
                Layout::CalicoV3 => RuleSet::CalicoV3,
            }),
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        let (topology, rejected) = self
            .read()
            .await
            .map_err(|e| source_error(&self.config, e))?;
        for (key, reason) in rejected {
            warn!(key = %key, reason = %reason, "etcd key rejected and skipped");
        }
        Ok(topology)
    }

    async fn watch(self, sink: EventSink) {
        Watcher {
            backoff: Backoff::new(self.config.backoff_initial, self.config.backoff_max),
            prefixes: LayoutStore::watch_prefixes(&self.config),
            store: LayoutStore::new(&self.config, self.scope.as_deref()),
            config: self.config,
            sink,
            synced: false,
        }
        .run()
        .await
    }
}

/// A complete read of every watched prefix at one revision (v3) or index
/// (v2), fed into a [`Reread`] of `store` as it arrives.
async fn read_all(config: &EtcdConfig, store: &LayoutStore) -> Result<(Reread, i64), EtcdError> {
    let prefixes = LayoutStore::watch_prefixes(config);
    match config.api {
        EtcdApi::V2 => {
            let client = V2Client::new(config)?;
            let mut reread = store.begin();
            let mut index = 0;
            for p in &prefixes {
                let (kvs, i) = client.read_tree(p).await?;
                index = index.max(i);
                store.feed(&mut reread, v2_kvs(kvs));
            }
            Ok((reread, i64::try_from(index).unwrap_or(i64::MAX)))
        }
        EtcdApi::V3 => {
            let client = V3Client::connect(config).await?;
            read_v3(&client, &prefixes, store).await
        }
    }
}

fn v2_kvs(kvs: Vec<(String, String)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    kvs.into_iter()
        .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
        .collect()
}

async fn read_v3(
    client: &V3Client,
    prefixes: &[String],
    store: &LayoutStore,
) -> Result<(Reread, i64), EtcdError> {
    let mut reread = store.begin();
    let mut revision = 0;
    for p in prefixes {
        revision = client
            .read_prefix_pages(p.as_bytes(), revision, |page| {
                store.feed(&mut reread, page);
            })
            .await?;
    }
    Ok((reread, revision))
}

/// How one read+watch cycle ended without an error.
enum CycleEnd {
    /// The runtime stopped listening.
    SinkClosed,
    /// History lost: re-read at once.
    HistoryLost(String),
}

struct SinkClosed;

struct Watcher {
    config: EtcdConfig,
    prefixes: Vec<String>,
    sink: EventSink,
    /// What was read and emitted (empty until `synced`).
    store: LayoutStore,
    /// A complete read was delivered (as the snapshot).
    synced: bool,
    backoff: Backoff,
}

impl Watcher {
    async fn run(mut self) {
        loop {
            let end = match self.config.api {
                EtcdApi::V2 => self.cycle_v2().await,
                EtcdApi::V3 => self.cycle_v3().await,
            };
            let status = match end {
                Ok(CycleEnd::SinkClosed) => return,
                Ok(CycleEnd::HistoryLost(reason)) => {
                    info!(source = self.config.kind(), %reason, "watch history lost; re-reading");
                    SourceStatus::Resyncing { reason }
                }
                Err(e) => {
                    let retry_in = self.backoff.next_delay();
                    warn!(source = self.config.kind(), error = %e, ?retry_in,
                        "etcd unreachable; the last topology stays in force");
                    SourceStatus::Unreachable {
                        error: e.to_string(),
                        retry_in,
                    }
                }
            };
            let wait = match &status {
                SourceStatus::Unreachable { retry_in, .. } => Some(*retry_in),
                _ => None,
            };
            if self.sink.send(SourceEvent::Status(status)).await.is_err() {
                return;
            }
            if let Some(d) = wait {
                tokio::time::sleep(d).await;
            }
            if self.sink.is_closed() {
                return;
            }
        }
    }

    async fn cycle_v2(&mut self) -> Result<CycleEnd, EtcdError> {
        let client = V2Client::new(&self.config)?;
        // calico-v1 is one prefix; the v2 API holds no other layout.
        let prefix = self.prefixes[0].clone();
        let (kvs, index) = client.read_tree(&prefix).await?;
        let mut reread = self.store.begin();
        self.store.feed(&mut reread, v2_kvs(kvs));
        if self.deliver_read(reread).await.is_err() {
            return Ok(CycleEnd::SinkClosed);
        }
        let mut wait_index = index + 1;
        loop {
            match client.watch(&prefix, wait_index).await? {
                WatchOutcome::Idle => debug!(wait_index, "v2 watch idle; polling again"),
                WatchOutcome::Cleared { detail } => {
                    return Ok(CycleEnd::HistoryLost(format!(
                        "etcd v2 event index {wait_index} was cleared: {detail}"
                    )))
                }
                WatchOutcome::Event { event, next_index } => {
                    wait_index = next_index;
                    let store = &mut self.store;
                    let update = match event {
                        V2Event::Put { key, value } => store.set(key.as_bytes(), value.as_bytes()),
                        V2Event::Delete { key } => store.delete(key.as_bytes()),
                        V2Event::DeleteTree { key } => store.delete_tree(key.as_bytes()),
                        V2Event::Nothing => StoreUpdate::default(),
                    };
                    if self.deliver(update).await.is_err() {
                        return Ok(CycleEnd::SinkClosed);
                    }
                }
            }
        }
    }

    async fn cycle_v3(&mut self) -> Result<CycleEnd, EtcdError> {
        let client = V3Client::connect(&self.config).await?;
        let (reread, revision) = match read_v3(&client, &self.prefixes, &self.store).await {
            Ok(r) => r,
            Err(e) if V3Client::is_compacted(&e) => {
                return Ok(CycleEnd::HistoryLost(format!(
                    "compacted during the read: {e}"
                )))
            }
            Err(e) => return Err(e),
        };
        if self.deliver_read(reread).await.is_err() {
            return Ok(CycleEnd::SinkClosed);
        }
        let mut stream = client.watch(&self.prefixes, revision + 1).await?;
        loop {
            let message = stream.message().await.map_err(|source| EtcdError::V3 {
                operation: "v3 watch",
                source,
            })?;
            let Some(resp) = message else {
                return Err(EtcdError::WatchEnded {
                    reason: "the server closed the watch stream".into(),
                });
            };
            if resp.compact_revision() > 0 {
                return Ok(CycleEnd::HistoryLost(format!(
                    "etcd v3 revision {} was compacted (compact revision {})",
                    revision + 1,
                    resp.compact_revision()
                )));
            }
            if resp.canceled() {
                return Err(EtcdError::WatchEnded {
                    reason: format!("watch cancelled: {}", resp.cancel_reason()),
                });
            }
            let store = &mut self.store;
            let mut update = StoreUpdate::default();
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                update.merge(match ev.event_type() {
                    etcd_client::EventType::Put => store.set(kv.key(), kv.value()),
                    etcd_client::EventType::Delete => store.delete(kv.key()),
                });
            }
            if self.deliver(update).await.is_err() {
                return Ok(CycleEnd::SinkClosed);
            }
        }
    }

    /// A complete read: the first becomes the snapshot, later ones the diff
    /// against what was emitted.
    async fn deliver_read(&mut self, reread: Reread) -> Result<(), SinkClosed> {
        self.backoff.reset();
        self.send(SourceEvent::Status(SourceStatus::Connected))
            .await?;
        if self.synced {
            let update = self.store.finish(reread);
            info!(
                source = self.config.kind(),
                changes = update.changes.len(),
                "re-read complete"
            );
            return self.deliver(update).await;
        }
        let (store, snapshot, rejected) = LayoutStore::first(reread);
        self.store = store;
        self.synced = true;
        info!(
            source = self.config.kind(),
            nodes = snapshot.nodes.len(),
            route_reflectors = snapshot.route_reflectors.len(),
            peers = snapshot.peers.len(),
            rejected = rejected.len(),
            "initial read complete"
        );
        self.send(SourceEvent::Snapshot(snapshot)).await?;
        self.deliver(StoreUpdate {
            changes: Vec::new(),
            rejected,
            resolved: Vec::new(),
        })
        .await
    }

    async fn deliver(&self, update: StoreUpdate) -> Result<(), SinkClosed> {
        if !update.changes.is_empty() {
            self.send(SourceEvent::Changes(update.changes)).await?;
        }
        for (key, reason) in update.rejected {
            let (key, reason) = (bounded_echo(&key), bounded_echo(&reason));
            warn!(key = %key, reason = %reason, "etcd key rejected and skipped");
            self.send(SourceEvent::Rejected { key, reason }).await?;
        }
        for key in update.resolved {
            self.send(SourceEvent::Resolved { key }).await?;
        }
        Ok(())
    }

    async fn send(&self, event: SourceEvent) -> Result<(), SinkClosed> {
        self.sink.send(event).await.map_err(|_| SinkClosed)
    }
}
