//! [`KubernetesSource`]: the [`PeerSource`] over the Kubernetes API.
//!
//! `watch()` runs one task per feed ([`crate::watcher`]: BGPConfigurations,
//! BGPPeers, Nodes, and one per referenced Secret) and one owner task —
//! this module — that holds the [`Store`] and talks to the runtime:
//!
//! * the first `Snapshot` goes out once all three Calico feeds are listed
//!   and every referenced Secret has answered (or failed), so that peers do
//!   not flap from "no password" to "password";
//! * then `Changes`, batched per burst of feed reports; a feed's re-list
//!   after a 410 arrives as the diff against what was emitted;
//! * a BGPPeer that starts referencing a new Secret starts that Secret's
//!   feed, and the batch waits for its first answer; Secrets no longer
//!   referenced are dropped;
//! * `Unreachable` when a feed's request fails, `Connected` when every
//!   feed works again, `Resyncing` on a 410; a Secret the API server
//!   refuses (RBAC) is a `Rejected` of that Secret, not an outage. A
//!   failure never produces a snapshot or a change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rrd_core::{
    EventSink, PeerSource, RuleSet, SourceError, SourceEvent, SourceInfo, SourceStatus, Topology,
    TopologyChange,
};
use rrd_source_kit::Backoff;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::access::{self, Environment};
use crate::client::{ApiClient, Feed, CALICO_KINDS};
use crate::config::KubernetesConfig;
use crate::error::KubeError;
use crate::store::{Store, Update};
use crate::watcher::{list_all, FeedWatcher, ListError, Message, Report};

/// How often the owner checks that the runtime still listens while
/// nothing else happens.
const SINK_CHECK: Duration = Duration::from_secs(1);

/// Reports handled before the batch is emitted.
const MAX_BATCH: usize = 4096;

/// The Kubernetes source. Resolves its kubeconfig / in-cluster access when
/// created; connects when read.
#[derive(Debug, Clone)]
pub struct KubernetesSource {
    config: KubernetesConfig,
    client: Arc<ApiClient>,
}

impl KubernetesSource {
    /// Validate the configuration and resolve how to reach the API server
    /// (reads the kubeconfig or the service account files now).
    pub fn new(config: KubernetesConfig) -> Result<KubernetesSource, KubeError> {
        config.validate()?;
        let access = access::resolve(&config, &Environment::process())?;
        info!(origin = %access.origin, server = %access.server, "kubernetes API access resolved");
        let client = ApiClient::new(access, &config)?;
        Ok(KubernetesSource {
            config,
            client: Arc::new(client),
        })
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        self.client.server().as_str()
    }

    /// One complete read, with the rejected objects beside it.
    pub async fn read(&self) -> Result<(Topology, Vec<(String, String)>), KubeError> {
        let mut store = Store::new(&self.config.secrets_namespace);
        let mut rejected = Vec::new();
        for kind in CALICO_KINDS {
            let feed = Feed::Calico(kind);
            let items = self.list(&feed).await?;
            rejected.extend(store.replace(&feed, items).rejected);
        }
        for name in store.referenced_secrets() {
            let feed = self.secret_feed(&name);
            match self.list(&feed).await {
                Ok(items) => rejected.extend(store.replace(&feed, items).rejected),
                Err(e) if e.is_refusal() => rejected.push((feed.to_string(), e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok((store.topology().clone(), rejected))
    }

    async fn list(&self, feed: &Feed) -> Result<Vec<crate::store::Item>, KubeError> {
        match list_all(&self.client, feed, self.config.page_size).await {
            Ok((items, _)) => Ok(items),
            // One retry as a single response (the pages' snapshot expired).
            Err(ListError::ContinueExpired(_)) => match list_all(&self.client, feed, 0).await {
                Ok((items, _)) => Ok(items),
                Err(ListError::ContinueExpired(message)) => Err(KubeError::Gone {
                    operation: "list",
                    message,
                }),
                Err(ListError::Failed(e)) => Err(e),
            },
            Err(ListError::Failed(e)) => Err(e),
        }
    }

    fn secret_feed(&self, name: &str) -> Feed {
        Feed::Secret {
            namespace: self.config.secrets_namespace.clone(),
            name: name.to_owned(),
        }
    }
}

impl PeerSource for KubernetesSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "kubernetes",
            location: self.server().to_owned(),
            rules: Some(RuleSet::CalicoV3),
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        let (topology, rejected) = self
            .read()
            .await
            .map_err(|e| rrd_source_kit::source_error(self.server().to_owned(), e))?;
        for (key, reason) in rejected {
            warn!(key = %key, reason = %reason, "kubernetes object rejected and skipped");
        }
        Ok(topology)
    }

    async fn watch(self, sink: EventSink) {
        let (tx, rx) = mpsc::channel(1024);
        let mut owner = Owner {
            store: Store::new(&self.config.secrets_namespace),
            source: self,
            sink,
            tx,
            tasks: BTreeMap::new(),
            next_generation: 1,
            listed: BTreeSet::new(),
            unanswered: BTreeSet::new(),
            failing: BTreeMap::new(),
            unreachable: None,
            snapshot_sent: false,
            changes: Vec::new(),
            rejected: Vec::new(),
        };
        owner.run(rx).await;
    }
}

/// A feed task, aborted when dropped.
struct Task {
    generation: u64,
    handle: JoinHandle<()>,
}

impl Drop for Task {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

struct Owner {
    source: KubernetesSource,
    sink: EventSink,
    tx: mpsc::Sender<Message>,
    store: Store,
    tasks: BTreeMap<Feed, Task>,
    next_generation: u64,
    /// Calico feeds listed at least once.
    listed: BTreeSet<Feed>,
    /// Secret feeds that have not answered yet: emission waits for them.
    unanswered: BTreeSet<Feed>,
    /// Feeds whose last request failed: (error, refused).
    failing: BTreeMap<Feed, (String, bool)>,
    /// The outage last reported, if any.
    unreachable: Option<String>,
    snapshot_sent: bool,
    /// Held until the next emission.
    changes: Vec<TopologyChange>,
    rejected: Vec<(String, String)>,
}

/// The runtime stopped listening.
struct Closed;

impl Owner {
    async fn run(&mut self, mut rx: mpsc::Receiver<Message>) {
        for kind in CALICO_KINDS {
            self.start(Feed::Calico(kind));
        }
        let mut check = tokio::time::interval(SINK_CHECK);
        loop {
            let first = tokio::select! {
                m = rx.recv() => m,
                _ = check.tick() => {
                    if self.sink.is_closed() {
                        return;
                    }
                    continue;
                }
            };
            // The owner holds a sender: the channel never closes.
            let Some(first) = first else { return };
            if self.handle(first).await.is_err() {
                return;
            }
            for _ in 1..MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => {
                        if self.handle(m).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            self.follow_secret_references();
            if self.emit().await.is_err() {
                return;
            }
        }
    }

    fn start(&mut self, feed: Feed) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let config = &self.source.config;
        let watcher = FeedWatcher {
            client: self.source.client.clone(),
            feed: feed.clone(),
            generation,
            page_size: config.page_size,
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
            tx: self.tx.clone(),
        };
        let handle = tokio::spawn(watcher.run());
        self.tasks.insert(feed, Task { generation, handle });
    }

    /// Start feeds for newly referenced Secrets, drop the others.
    fn follow_secret_references(&mut self) {
        let wanted: BTreeSet<Feed> = self
            .store
            .referenced_secrets()
            .iter()
            .map(|n| self.source.secret_feed(n))
            .collect();
        let running: Vec<Feed> = self
            .tasks
            .keys()
            .filter(|f| matches!(f, Feed::Secret { .. }))
            .cloned()
            .collect();
        for feed in running.iter().filter(|f| !wanted.contains(*f)) {
            self.tasks.remove(feed);
            self.unanswered.remove(feed);
            self.failing.remove(feed);
            if let Feed::Secret { name, .. } = feed {
                let update = self.store.forget_secret(name);
                self.take(update);
            }
        }
        for feed in wanted {
            if !self.tasks.contains_key(&feed) {
                self.unanswered.insert(feed.clone());
                self.start(feed);
            }
        }
    }

    fn take(&mut self, update: Update) {
        self.changes.extend(update.changes);
        self.rejected.extend(update.rejected);
    }

    async fn send(&self, event: SourceEvent) -> Result<(), Closed> {
        self.sink.send(event).await.map_err(|_| Closed)
    }

    async fn handle(&mut self, message: Message) -> Result<(), Closed> {
        let Message {
            feed,
            generation,
            report,
        } = message;
        if self.tasks.get(&feed).map(|t| t.generation) != Some(generation) {
            return Ok(()); // from a feed that was dropped meanwhile
        }
        match report {
            Report::Failed {
                error,
                refused,
                retry_in,
            } => {
                self.unanswered.remove(&feed);
                // Only a Secret can be refused without it being an outage.
                let refused = refused && matches!(feed, Feed::Secret { .. });
                let before = self.failing.insert(feed.clone(), (error.clone(), refused));
                if refused {
                    // RBAC or a bad name: that Secret's problem, once.
                    if before.is_none_or(|(e, _)| e != error) {
                        self.rejected.push((feed.to_string(), error));
                    }
                    return Ok(());
                }
                // One report per retry round: from the first failing feed.
                let lead = self
                    .failing
                    .iter()
                    .find(|(_, (_, refused))| !refused)
                    .map(|(f, _)| f);
                if self.unreachable.is_none() || lead == Some(&feed) {
                    if self.unreachable.as_deref() != Some(&error) {
                        warn!(feed = %feed, error = %error, ?retry_in,
                            "kubernetes API unreachable; the last topology stays in force");
                    }
                    self.unreachable = Some(error.clone());
                    self.send(SourceEvent::Status(SourceStatus::Unreachable {
                        error,
                        retry_in,
                    }))
                    .await?;
                }
                return Ok(());
            }
            Report::Resyncing { reason } => {
                info!(%reason, "watch history lost; listing again");
                self.send(SourceEvent::Status(SourceStatus::Resyncing { reason }))
                    .await?;
                return Ok(());
            }
            Report::Healthy => {}
            Report::Listed(items) => {
                self.unanswered.remove(&feed);
                if matches!(feed, Feed::Calico(_)) && self.listed.insert(feed.clone()) {
                    info!(feed = %feed, objects = items.len(), "initial list complete");
                }
                let update = self.store.replace(&feed, items);
                self.take(update);
            }
            Report::Applied(item) => {
                let update = self.store.upsert(item);
                self.take(update);
            }
            Report::Deleted(item) => {
                let update = self.store.delete(item);
                self.take(update);
            }
        }
        self.failing.remove(&feed);
        let outage = self.failing.values().any(|(_, refused)| !refused);
        if self.unreachable.is_some() && !outage {
            info!("kubernetes API reachable again");
            self.unreachable = None;
            if self.snapshot_sent {
                self.send(SourceEvent::Status(SourceStatus::Connected))
                    .await?;
            }
        }
        Ok(())
    }

    /// Emit what is held, once the first snapshot can be complete.
    async fn emit(&mut self) -> Result<(), Closed> {
        if self.listed.len() < CALICO_KINDS.len() || !self.unanswered.is_empty() {
            return Ok(());
        }
        if !self.snapshot_sent {
            let t = self.store.topology().clone();
            info!(
                nodes = t.nodes.len(),
                peers = t.peers.len(),
                secrets = t.secrets.len(),
                rejected = self.rejected.len(),
                "initial read complete"
            );
            if self.unreachable.is_none() {
                self.send(SourceEvent::Status(SourceStatus::Connected))
                    .await?;
            }
            self.send(SourceEvent::Snapshot(t)).await?;
            self.snapshot_sent = true;
            self.changes.clear();
        } else if !self.changes.is_empty() {
            let changes = std::mem::take(&mut self.changes);
            self.send(SourceEvent::Changes(changes)).await?;
        }
        for (key, reason) in std::mem::take(&mut self.rejected) {
            warn!(key = %key, reason = %reason, "kubernetes object rejected and skipped");
            self.send(SourceEvent::Rejected { key, reason }).await?;
        }
        Ok(())
    }
}
