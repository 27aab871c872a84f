//! One feed's list + watch loop, run as its own task and reporting to the
//! task that owns the store ([`crate::source`]) with typed messages.
//!
//! Per feed: list (paged with `limit`/`continue`, one consistent
//! snapshot) -> [`Report::Listed`] -> watch from exactly the list's
//! resourceVersion with bookmarks, advancing the version with every event
//! and bookmark. When the server ends a watch (its `timeoutSeconds`), or
//! an established stream breaks, the next watch resumes from the last
//! version at once; a 410 (HTTP status or `ERROR` event) means the version
//! left the server's history: [`Report::Resyncing`] and a fresh list. A
//! request that fails is [`Report::Failed`] and is retried after an
//! exponential backoff with jitter; nothing else is reported for it.

use std::sync::Arc;
use std::time::Duration;

use rrd_source_kit::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use crate::client::{resource_version, ApiClient, Feed, WatchEvent};
use crate::error::KubeError;
use crate::store::{decode_item, Item};

/// A watch that ends on its own sooner than this without delivering
/// anything is retried after a backoff delay, so that a server that
/// accepts and drops watches at once is not hammered.
const MIN_USEFUL_WATCH: Duration = Duration::from_secs(1);

/// What a feed tells the owner.
#[derive(Debug)]
pub(crate) enum Report {
    /// A complete list: replaces everything known of the feed.
    Listed(Vec<Item>),
    Applied(Item),
    Deleted(Item),
    /// A watch is established: the feed is talking to the server again.
    Healthy,
    /// A request failed; the next attempt is in `retry_in`.
    Failed {
        error: String,
        /// The server refused (4xx), as opposed to an outage.
        refused: bool,
        retry_in: Duration,
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

/// List a feed completely, page by page (`page_size` 0: one response).
pub(crate) async fn list_all(
    client: &ApiClient,
    feed: &Feed,
    page_size: u32,
) -> Result<(Vec<Item>, String), ListError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = match client.list_page(feed, page_size, token.as_deref()).await {
            Ok(p) => p,
            Err(KubeError::Gone { message, .. }) if token.is_some() => {
                return Err(ListError::ContinueExpired(message))
            }
            Err(e) => return Err(ListError::Failed(e)),
        };
        items.extend(page.items.into_iter().map(|o| decode_item(feed, o)));
        match page.continue_token {
            None => return Ok((items, page.resource_version)),
            Some(t) => token = Some(t),
        }
    }
}

#[derive(Debug)]
pub(crate) enum ListError {
    /// The snapshot a `continue` token stands for was compacted away
    /// between two pages.
    ContinueExpired(String),
    Failed(KubeError),
}

/// How one watch ended.
enum WatchEnd {
    /// The resourceVersion is too old: list again.
    Expired(String),
    /// The server ended the watch cleanly.
    Closed {
        quick: bool,
    },
    Failed {
        error: KubeError,
        established: bool,
    },
}

/// The receiver is gone: stop.
struct Stopped;

pub(crate) struct FeedWatcher {
    pub client: Arc<ApiClient>,
    pub feed: Feed,
    pub generation: u64,
    pub page_size: u32,
    pub backoff: Backoff,
    pub tx: mpsc::Sender<Message>,
}

impl FeedWatcher {
    pub async fn run(mut self) {
        let _ = self.run_until_stopped().await;
    }

    async fn send(&self, report: Report) -> Result<(), Stopped> {
        let message = Message {
            feed: self.feed.clone(),
            generation: self.generation,
            report,
        };
        self.tx.send(message).await.map_err(|_| Stopped)
    }

    async fn fail(&mut self, error: KubeError) -> Result<(), Stopped> {
        let retry_in = self.backoff.next_delay();
        self.send(Report::Failed {
            refused: error.is_refusal(),
            error: error.to_string(),
            retry_in,
        })
        .await?;
        tokio::time::sleep(retry_in).await;
        Ok(())
    }

    async fn run_until_stopped(&mut self) -> Result<(), Stopped> {
        let mut version: Option<String> = None;
        let mut paged = true;
        loop {
            let from = match version.take() {
                Some(v) => v,
                None => {
                    let size = if paged { self.page_size } else { 0 };
                    match list_all(&self.client, &self.feed, size).await {
                        Ok((items, v)) => {
                            paged = true;
                            self.backoff.reset();
                            self.send(Report::Listed(items)).await?;
                            v
                        }
                        Err(ListError::ContinueExpired(message)) => {
                            // Too slow to page through before compaction:
                            // the next list is one response.
                            paged = false;
                            self.send(Report::Resyncing {
                                reason: format!(
                                    "{}: list continuation expired ({message}); listing in one response",
                                    self.feed
                                ),
                            })
                            .await?;
                            continue;
                        }
                        Err(ListError::Failed(e)) => {
                            self.fail(e).await?;
                            continue;
                        }
                    }
                }
            };
            let mut at = from;
            match self.watch(&mut at).await? {
                WatchEnd::Expired(message) => {
                    self.send(Report::Resyncing {
                        reason: format!(
                            "{}: resourceVersion {at} is no longer in the API server's history ({message})",
                            self.feed
                        ),
                    })
                    .await?;
                }
                WatchEnd::Closed { quick } => {
                    version = Some(at);
                    if quick {
                        tokio::time::sleep(self.backoff.next_delay()).await;
                    } else {
                        self.backoff.reset();
                    }
                }
                WatchEnd::Failed { error, established } => {
                    version = Some(at);
                    if established {
                        debug!(feed = %self.feed, error = %error, "watch broke; resuming");
                        self.backoff.reset();
                    } else {
                        self.fail(error).await?;
                    }
                }
            }
        }
    }

    /// Watch from `at`, advancing it with every event and bookmark.
    async fn watch(&mut self, at: &mut String) -> Result<WatchEnd, Stopped> {
        let started = Instant::now();
        let mut stream = match self.client.watch(&self.feed, at).await {
            Ok(s) => s,
            Err(KubeError::Gone { message, .. }) => return Ok(WatchEnd::Expired(message)),
            Err(error) => {
                return Ok(WatchEnd::Failed {
                    error,
                    established: false,
                })
            }
        };
        self.send(Report::Healthy).await?;
        let mut delivered = false;
        loop {
            let event = match stream.next().await {
                Ok(Some(e)) => e,
                Ok(None) => {
                    let quick = !delivered && started.elapsed() < MIN_USEFUL_WATCH;
                    return Ok(WatchEnd::Closed { quick });
                }
                Err(KubeError::Gone { message, .. }) => return Ok(WatchEnd::Expired(message)),
                Err(error) => {
                    let established = delivered || started.elapsed() >= MIN_USEFUL_WATCH;
                    return Ok(WatchEnd::Failed { error, established });
                }
            };
            delivered = true;
            let report = match event {
                WatchEvent::Bookmark(v) => {
                    *at = v;
                    continue;
                }
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    advance(at, &o);
                    Report::Applied(decode_item(&self.feed, o))
                }
                WatchEvent::Deleted(o) => {
                    advance(at, &o);
                    Report::Deleted(decode_item(&self.feed, o))
                }
            };
            self.send(report).await?;
        }
    }
}

fn advance(at: &mut String, object: &serde_json::Value) {
    if let Some(v) = resource_version(object) {
        *at = v;
    }
}
