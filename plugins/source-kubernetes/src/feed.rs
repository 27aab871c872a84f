//! One feed's kube-runtime watcher, run as its own task and reporting to
//! the task that owns the store ([`crate::source`]) with typed messages.
//!
//! kube's watcher lists (paged, one consistent snapshot), then watches from
//! exactly the list's resourceVersion with bookmarks, resumes a broken or
//! ended watch from the last version, and re-lists when the version left
//! the server's history (410 as a watch `ERROR` event). Its `Init` /
//! `InitApply` / `InitDone` events are gathered into one
//! [`Report::Listed`], so that the owner replaces the feed's objects at
//! once (a re-list arrives as a diff). What this task adds:
//!
//! * a 410 as the HTTP status of the watch request (kube would retry the
//!   same version): the watcher is started afresh, i.e. re-lists;
//! * failures are reported with the delay before the next attempt, waited
//!   out with the shared backoff; then a one-object list of the same
//!   collection checks that the API server answers again
//!   ([`Report::Healthy`]) before the watcher resumes, since a watch that
//!   resumes quietly tells nothing;
//! * a watch stream that breaks after it was established is resumed at
//!   once, reported as nothing.

use std::fmt::Debug;

use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use kube::Resource;
use rrd_source_kit::Backoff;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::debug;

use crate::api::{self, CalicoApi, Feed};
use crate::error::KubeError;
use crate::store::{decode_item, Item};

/// What a feed tells the owner.
#[derive(Debug)]
pub(crate) enum Report {
    /// A complete list: replaces everything known of the feed.
    Listed(Vec<Item>),
    Applied(Item),
    Deleted(Item),
    /// The API server answers the feed's requests again.
    Healthy,
    /// A request failed; the next attempt is in `retry_in`.
    Failed {
        error: String,
        /// The server refused (4xx), as opposed to an outage.
        refused: bool,
        retry_in: std::time::Duration,
    },
    /// The watch history is gone; a fresh list follows.
    Resyncing {
        reason: String,
    },
}

#[derive(Debug)]
pub(crate) struct Message {
    pub feed: Feed,
    /// Tells a feed's current task from an aborted predecessor.
    pub generation: u64,
    pub report: Report,
}

/// The receiver is gone: stop.
struct Stopped;

/// What to do after a watcher error.
enum Next {
    /// The watcher recovers by itself (re-list or resume).
    Continue,
    /// Start a new watcher (it lists first).
    Restart,
}

pub(crate) struct FeedTask {
    pub client: kube::Client,
    pub feed: Feed,
    pub api: CalicoApi,
    pub generation: u64,
    pub config: watcher::Config,
    pub backoff: Backoff,
    pub tx: mpsc::Sender<Message>,
    /// A failed watch start was retried at once since the last success.
    pub retried: bool,
}

impl FeedTask {
    pub async fn run(mut self) {
        let client = self.client.clone();
        let _ = match self.feed.clone() {
            Feed::Calico(rrd_layouts::calico_v3::ResourceKind::Node) => {
                self.follow(api::nodes(&client)).await
            }
            Feed::Calico(kind) => self.follow(api::crds(&client, self.api, kind)).await,
            Feed::Secret { namespace, name } => {
                self.config = self.config.clone().fields(&format!("metadata.name={name}"));
                self.follow(api::secrets(&client, &namespace)).await
            }
        };
    }

    async fn send(&self, report: Report) -> Result<(), Stopped> {
        let message = Message {
            feed: self.feed.clone(),
            generation: self.generation,
            report,
        };
        self.tx.send(message).await.map_err(|_| Stopped)
    }

    fn decode<K: Serialize>(&self, object: &K) -> Item {
        let value = serde_json::to_value(object).unwrap_or_default();
        decode_item(&self.feed, self.api, value)
    }

    async fn follow<K>(&mut self, api: Api<K>) -> Result<(), Stopped>
    where
        K: Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
    {
        loop {
            let mut stream = watcher::watcher(api.clone(), self.config.clone()).boxed();
            let mut page: Vec<Item> = Vec::new();
            while let Some(event) = stream.next().await {
                if event.is_ok() {
                    self.retried = false;
                }
                match event {
                    Ok(Event::Init) => page.clear(),
                    Ok(Event::InitApply(o)) => page.push(self.decode(&o)),
                    Ok(Event::InitDone) => {
                        self.backoff.reset();
                        self.send(Report::Listed(std::mem::take(&mut page))).await?;
                    }
                    Ok(Event::Apply(o)) => self.send(Report::Applied(self.decode(&o))).await?,
                    Ok(Event::Delete(o)) => self.send(Report::Deleted(self.decode(&o))).await?,
                    Err(e) => match self.failed(&api, e).await? {
                        Next::Continue => {}
                        Next::Restart => break,
                    },
                }
            }
        }
    }

    async fn failed<K>(&mut self, api: &Api<K>, error: watcher::Error) -> Result<Next, Stopped>
    where
        K: Resource + Clone + DeserializeOwned + Debug,
    {
        let feed = &self.feed;
        let (operation, e) = match error {
            watcher::Error::WatchError(status) if status.code == 410 => {
                let reason = format!(
                    "{feed}: the resourceVersion is no longer in the API server's history ({}); listing again",
                    status.message
                );
                self.send(Report::Resyncing { reason }).await?;
                return Ok(Next::Continue);
            }
            watcher::Error::WatchFailed(e) => {
                debug!(feed = %feed, error = %e, "watch broke; resuming");
                return Ok(Next::Continue);
            }
            // Right after a stream broke, the pooled connection a new watch
            // goes out on may be the dead one: one more try, unreported.
            watcher::Error::WatchStartFailed(e)
                if !self.retried && !matches!(e, kube::Error::Api(_)) =>
            {
                debug!(feed = %feed, error = %e, "watch did not restart; trying once more");
                self.retried = true;
                return Ok(Next::Continue);
            }
            watcher::Error::WatchStartFailed(e) => {
                ("watch", KubeError::from_kube(format!("watch {feed}"), &e))
            }
            watcher::Error::InitialListFailed(e) => {
                ("list", KubeError::from_kube(format!("list {feed}"), &e))
            }
            watcher::Error::WatchError(status) => (
                "watch",
                KubeError::Api {
                    operation: format!("watch {feed}"),
                    status: status.code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                },
            ),
            watcher::Error::NoResourceVersion => (
                "list",
                KubeError::Transport {
                    operation: format!("list {feed}"),
                    detail: "no metadata.resourceVersion in the answer".into(),
                },
            ),
        };
        if e.is_gone() {
            let reason = if operation == "list" {
                // A `continue` token from before a compaction.
                format!("{feed}: list continuation expired ({e}); listing again")
            } else {
                format!("{feed}: the resourceVersion is no longer in the API server's history ({e}); listing again")
            };
            self.send(Report::Resyncing { reason }).await?;
            // After a failed list the watcher lists again by itself; a
            // watch refused with HTTP 410 would be retried as it was.
            return Ok(if operation == "list" {
                Next::Continue
            } else {
                Next::Restart
            });
        }
        let mut e = e;
        loop {
            let retry_in = self.backoff.next_delay();
            self.send(Report::Failed {
                refused: e.is_refusal(),
                error: explain(feed, e).to_string(),
                retry_in,
            })
            .await?;
            tokio::time::sleep(retry_in).await;
            let mut probe = ListParams::default().limit(1);
            probe.field_selector = feed.field_selector();
            match api.list(&probe).await {
                Ok(_) => {
                    self.send(Report::Healthy).await?;
                    return Ok(Next::Continue);
                }
                Err(err) => e = KubeError::from_kube(format!("list {feed}"), &err),
            }
        }
    }
}

/// A 404 for a Calico CRD means the CRD went away: say so.
fn explain(feed: &Feed, e: KubeError) -> KubeError {
    match (feed, e) {
        (
            Feed::Calico(kind),
            KubeError::Api {
                operation,
                status: 404,
                reason,
                message,
            },
        ) if *kind != rrd_layouts::calico_v3::ResourceKind::Node => KubeError::Api {
            operation,
            status: 404,
            reason,
            message: format!(
                "{message} (no CRD for {}s: is Calico installed with the Kubernetes datastore?)",
                kind.kind().to_lowercase()
            ),
        },
        (_, e) => e,
    }
}
