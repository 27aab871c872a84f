//! [`KubernetesSource`]: the [`PeerSource`] over the Kubernetes API.
//!
//! `watch()` first finds which Calico API group the API server serves
//! (`crd.projectcalico.org/v1` or `projectcalico.org/v3`, said in status),
//! then runs one task per feed ([`crate::feed`]: kube watchers of
//! BGPConfigurations, BGPPeers, Nodes, and one per referenced Secret) and
//! one owner task — this module — that holds the [`Store`] and talks to
//! the runtime:
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
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use rrd_core::{
    bounded_echo, EventSink, PeerSource, RuleSet, SourceError, SourceEvent, SourceInfo,
    SourceStatus, Topology, TopologyChange,
};
use rrd_source_kit::Backoff;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::access::{self, Access, Environment};
use crate::api::{self, CalicoApi, Feed, CALICO_KINDS};
use crate::config::KubernetesConfig;
use crate::error::KubeError;
use crate::feed::{FeedTask, Message, Report};
use crate::store::{decode_item, Item, Store, Update};

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
    access: Access,
}

impl KubernetesSource {
    /// Validate the configuration and resolve how to reach the API server
    /// (reads the kubeconfig or the service account files now).
    pub fn new(config: KubernetesConfig) -> Result<KubernetesSource, KubeError> {
        config.validate()?;
        let access = access::resolve(&config, &Environment::process())?;
        info!(origin = %access.origin, server = %access.server, "kubernetes API access resolved");
        Ok(KubernetesSource { config, access })
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// The API server's URL.
    pub fn server(&self) -> &str {
        &self.access.server
    }

    /// One complete read, with the rejected objects beside it, and the
    /// Calico API group it was read from.
    pub async fn read(&self) -> Result<(Topology, Vec<(String, String)>, CalicoApi), KubeError> {
        let client = self.access.client(&self.config).await?;
        let group = api::discover(&client, self.config.api_group).await?;
        let mut store = Store::new(&self.config.secrets_namespace);
        let mut rejected = Vec::new();
        for kind in CALICO_KINDS {
            let feed = Feed::Calico(kind);
            let items = self.list(&client, group, &feed).await?;
            rejected.extend(store.replace(&feed, items).rejected);
        }
        for name in store.referenced_secrets() {
            let feed = self.secret_feed(&name);
            match self.list(&client, group, &feed).await {
                Ok(items) => rejected.extend(store.replace(&feed, items).rejected),
                Err(e) if e.is_refusal() => rejected.push((feed.to_string(), e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok((store.topology().clone(), rejected, group))
    }

    /// One complete (paged) list of a feed, through kube's watcher up to
    /// its first `InitDone`. An expired `continue` token is listed again,
    /// once.
    async fn list(
        &self,
        client: &kube::Client,
        group: CalicoApi,
        feed: &Feed,
    ) -> Result<Vec<Item>, KubeError> {
        let config = self.watcher_config(feed);
        match feed {
            Feed::Calico(rrd_layouts::calico_v3::ResourceKind::Node) => {
                list_once(api::nodes(client), config, feed, group).await
            }
            Feed::Calico(kind) => {
                list_once(api::crds(client, group, *kind), config, feed, group).await
            }
            Feed::Secret { namespace, .. } => {
                list_once(api::secrets(client, namespace), config, feed, group).await
            }
        }
    }

    /// The watcher settings of a feed: page size, the watch's
    /// `timeoutSeconds`, bookmarks, and a Secret's name.
    fn watcher_config(&self, feed: &Feed) -> watcher::Config {
        let seconds = u32::try_from(self.config.watch_timeout.as_secs()).unwrap_or(u32::MAX);
        let mut c = watcher::Config::default().timeout(seconds.max(1));
        c.page_size = Some(self.config.page_size).filter(|s| *s > 0);
        if let Some(fs) = feed.field_selector() {
            c = c.fields(&fs);
        }
        c
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
        let (topology, rejected, group) = self
            .read()
            .await
            .map_err(|e| rrd_source_kit::source_error(self.server().to_owned(), e))?;
        info!(api = %group, "Calico resources read");
        for (key, reason) in rejected {
            warn!(key = %key, reason = %reason, "kubernetes object rejected and skipped");
        }
        Ok(topology)
    }

    async fn watch(self, sink: EventSink) {
        let (tx, rx) = mpsc::channel(1024);
        let Some((client, group)) = connect(&self, &sink).await else {
            return;
        };
        let mut owner = Owner {
            store: Store::new(&self.config.secrets_namespace),
            client,
            group,
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

/// Make a client and find the Calico API group, retrying with backoff
/// (`Unreachable` each round) until both work; `None` when the runtime
/// stopped listening. Says in status which group serves Calico.
async fn connect(source: &KubernetesSource, sink: &EventSink) -> Option<(kube::Client, CalicoApi)> {
    let config = &source.config;
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    loop {
        let attempt = async {
            let client = source.access.client(config).await?;
            let group = api::discover(&client, config.api_group).await?;
            Ok::<_, KubeError>((client, group))
        };
        let error = match attempt.await {
            Ok((client, group)) => {
                info!(api = %group, "Calico resources served as {group}");
                let location = format!("{} ({group})", source.server());
                let event = SourceEvent::Status(SourceStatus::Located { location });
                sink.send(event).await.ok()?;
                return Some((client, group));
            }
            Err(e) => e,
        };
        let retry_in = backoff.next_delay();
        warn!(error = %error, ?retry_in, "kubernetes API unreachable; the last topology stays in force");
        let event = SourceEvent::Status(SourceStatus::Unreachable {
            error: error.to_string(),
            retry_in,
        });
        sink.send(event).await.ok()?;
        tokio::time::sleep(retry_in).await;
    }
}

struct Owner {
    source: KubernetesSource,
    client: kube::Client,
    group: CalicoApi,
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
        let task = FeedTask {
            client: self.client.clone(),
            config: self.source.watcher_config(&feed),
            feed: feed.clone(),
            api: self.group,
            generation,
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
            tx: self.tx.clone(),
            retried: false,
        };
        let handle = tokio::spawn(task.run());
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
            let (key, reason) = (bounded_echo(&key), bounded_echo(&reason));
            warn!(key = %key, reason = %reason, "kubernetes object rejected and skipped");
            self.send(SourceEvent::Rejected { key, reason }).await?;
        }
        Ok(())
    }
}

/// Everything `api` holds, through kube's watcher up to its first
/// `InitDone` (a paged list; an expired `continue` token is listed again,
/// once).
async fn list_once<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    feed: &Feed,
    group: CalicoApi,
) -> Result<Vec<Item>, KubeError>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + 'static,
{
    let mut stream = watcher::watcher(api, config).boxed();
    let mut items = Vec::new();
    let mut expired = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => items.clear(),
            Ok(Event::InitApply(o)) => items.push(decode_item(
                feed,
                group,
                serde_json::to_value(&o).unwrap_or_default(),
            )),
            Ok(Event::InitDone) => return Ok(items),
            Ok(Event::Apply(_) | Event::Delete(_)) => {}
            Err(watcher::Error::InitialListFailed(e)) => {
                let e = KubeError::from_kube(format!("list {feed}"), &e);
                if !e.is_gone() || expired {
                    return Err(e);
                }
                expired = true;
            }
            Err(e) => {
                return Err(KubeError::Transport {
                    operation: format!("list {feed}"),
                    detail: rrd_source_kit::chain(&e),
                })
            }
        }
    }
    Err(KubeError::Transport {
        operation: format!("list {feed}"),
        detail: "the watcher ended".into(),
    })
}
