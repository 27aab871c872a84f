//! [`ConsulSource`]: the [`PeerSource`] over Consul KV.
//!
//! Watch loop, per cycle: a plain recursive read of `<prefix>/` (its
//! `X-Consul-Index`) -> first time a `Snapshot`, later the *diff* against
//! what was emitted -> blocking queries at the last index. Every answer is
//! the whole prefix again, so an answer with a higher index is compared
//! with the previous answer (`mirror`), the keys that differ go through
//! [`LegacyStore::set`] / [`LegacyStore::delete`], and only the resulting
//! topology changes are emitted; an
//! unchanged index (the wait ran out, a spurious wake-up) emits nothing;
//! an index that went backwards reports `Resyncing` and re-reads at once
//! (see [`crate::blocking`] for Consul's rules). Any failure reports
//! `Unreachable { retry_in }` and starts the next cycle (a plain read)
//! after an exponential backoff with jitter. A failed or incomplete read
//! (ACL-filtered) never produces an event other than a status: the last
//! topology stays authoritative.

use rrd_core::{
    bounded_echo, EventSink, PeerSource, RuleSet, SourceError, SourceEvent, SourceInfo,
    SourceStatus, Topology,
};
use rrd_layouts::calico_v1::{LegacyStore, Rejected, Update};
use rrd_source_kit::Backoff;
use tracing::{debug, error, info, warn};

use crate::blocking::{IndexTracker, RateLimiter, Seen};
use crate::client::{KvClient, KvEntry};
use crate::config::ConsulConfig;
use crate::error::ConsulError;
use crate::mirror::{Delta, KvMirror};

/// The Consul source. Cheap to create; connects when read.
#[derive(Debug, Clone)]
pub struct ConsulSource {
    config: ConsulConfig,
}

impl ConsulSource {
    /// Validate the configuration and check that the token and TLS files
    /// are readable.
    pub fn new(config: ConsulConfig) -> Result<ConsulSource, ConsulError> {
        config.validate()?;
        config.tls_files()?;
        config.token()?;
        Ok(ConsulSource { config })
    }

    pub fn config(&self) -> &ConsulConfig {
        &self.config
    }

    fn location(&self) -> String {
        format!(
            "{} {}",
            self.config.addresses.join(","),
            self.config.prefix()
        )
    }

    /// One complete read, with the rejected keys beside it.
    pub async fn read(&self) -> Result<(Topology, Vec<Rejected>), ConsulError> {
        let client = KvClient::new(&self.config)?;
        let listing = client.list(self.config.prefix(), 0).await?;
        let entries = without_folders(listing.entries);
        let (store, rejected) = LegacyStore::from_kvs(self.config.prefix(), kv_pairs(&entries));
        Ok((store.snapshot(), rejected))
    }
}

/// The entries the decoder sees. Keys ending in `/` are Consul folders
/// (what `consul kv put dir/` and the UI's "create folder" make): they
/// carry nothing and are not part of the layout.
fn without_folders(mut entries: Vec<KvEntry>) -> Vec<KvEntry> {
    entries.retain(|e| !e.key.ends_with('/'));
    entries
}

fn kv_pairs(entries: &[KvEntry]) -> impl Iterator<Item = (&String, &Vec<u8>)> {
    entries.iter().map(|e| (&e.key, &e.value))
}

/// Bring `store` to what `entries` (a whole answer) hold, decoding only
/// the keys whose value differs from the last answer (`mirror`).
fn apply_answer(store: &mut LegacyStore, mirror: &mut KvMirror, entries: Vec<KvEntry>) -> Update {
    let mut out = Update::default();
    for delta in mirror.update(entries) {
        let update = match delta {
            Delta::Set { key, value } => store.set(key, value),
            Delta::Delete { key } => store.delete(key),
        };
        out.changes.extend(update.changes);
        out.rejected.extend(update.rejected);
        out.resolved.extend(update.resolved);
    }
    out
}

fn source_error(location: String, e: ConsulError) -> SourceError {
    rrd_source_kit::source_error(location, e)
}

impl PeerSource for ConsulSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "consul",
            location: self.location(),
            rules: Some(RuleSet::Legacy),
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        let (topology, rejected) = self
            .read()
            .await
            .map_err(|e| source_error(self.location(), e))?;
        for r in rejected {
            let (key, reason) = (bounded_echo(&r.key), bounded_echo(&r.reason.to_string()));
            warn!(key = %key, reason = %reason, "Consul key rejected and skipped");
        }
        Ok(topology)
    }

    async fn watch(self, sink: EventSink) {
        Watcher {
            backoff: Backoff::new(self.config.backoff_initial, self.config.backoff_max),
            limiter: RateLimiter::new(self.config.rate_limit),
            config: self.config,
            sink,
            store: None,
            mirror: KvMirror::default(),
            connected: false,
        }
        .run()
        .await
    }
}

struct SinkClosed;

struct Watcher {
    config: ConsulConfig,
    sink: EventSink,
    /// What was emitted so far (`None` before the first complete read).
    store: Option<LegacyStore>,
    /// The keys and values `store` was made from.
    mirror: KvMirror,
    backoff: Backoff,
    limiter: RateLimiter,
    /// Whether `Connected` was the last status sent.
    connected: bool,
}

impl Watcher {
    async fn run(mut self) {
        loop {
            let Err(e) = self.cycle().await else {
                return; // the runtime stopped listening
            };
            self.connected = false;
            let retry_in = self.backoff.next_delay();
            if e.is_retryable() {
                warn!(source = "consul", error = %e, ?retry_in,
                    "Consul unreachable; the last topology stays in force");
            } else {
                // A token, policy or file an operator must fix; retried
                // because it can be fixed without restarting rrd.
                error!(source = "consul", error = %e, ?retry_in,
                    "Consul refused the read; the last topology stays in force");
            }
            let status = SourceStatus::Unreachable {
                error: e.to_string(),
                retry_in,
            };
            if self.send(SourceEvent::Status(status)).await.is_err() {
                return;
            }
            tokio::time::sleep(retry_in).await;
            if self.sink.is_closed() {
                return;
            }
        }
    }

    /// A plain read, then blocking queries until something fails (`Err`)
    /// or the sink closes (`Ok`). The client is made anew each cycle, so a
    /// rotated token or certificate is picked up on reconnect.
    async fn cycle(&mut self) -> Result<(), ConsulError> {
        let client = KvClient::new(&self.config)?;
        let prefix = self.config.prefix().to_owned();
        let mut index = IndexTracker::default();
        loop {
            self.limiter.acquire().await;
            let listing = client.list(&prefix, index.query_index()).await?;
            if !listing.known_leader {
                debug!(address = %listing.address, last_contact = ?listing.last_contact,
                    "Consul answered without a known leader");
            }
            if !self.connected {
                self.connected = true;
                self.backoff.reset();
                if self
                    .send(SourceEvent::Status(SourceStatus::Connected))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            let seen = index.observe(listing.index);
            let delivered = match seen {
                Seen::Unchanged => {
                    debug!(
                        index = listing.index,
                        "blocking query returned without a change"
                    );
                    Ok(())
                }
                Seen::WentBack { from, to } => {
                    let reason = format!(
                        "Consul index went back from {from} to {to} (snapshot restore, reaped \
                         tombstones or an upgrade); re-reading {prefix}"
                    );
                    info!(source = "consul", %reason, "watch index reset");
                    self.send(SourceEvent::Status(SourceStatus::Resyncing { reason }))
                        .await
                }
                Seen::Zero => {
                    warn!(address = %listing.address,
                        "Consul sent X-Consul-Index 0 (a Consul bug); blocking at index 1");
                    self.deliver(listing.entries).await
                }
                Seen::First | Seen::Advanced => self.deliver(listing.entries).await,
            };
            if delivered.is_err() {
                return Ok(());
            }
        }
    }

    /// A complete read: the first becomes the snapshot, later ones the diff
    /// against what was emitted (nothing, if nothing differs): the keys
    /// whose value differs from the last answer are decoded again, the
    /// others are not looked at.
    async fn deliver(&mut self, entries: Vec<KvEntry>) -> Result<(), SinkClosed> {
        let prefix = self.config.prefix();
        let entries = without_folders(entries);
        let Update {
            changes,
            rejected,
            resolved,
        } = match &mut self.store {
            None => {
                let (store, rejected) = LegacyStore::from_kvs(prefix, kv_pairs(&entries));
                self.mirror = KvMirror::new(entries);
                let snapshot = store.snapshot();
                info!(
                    source = "consul",
                    nodes = snapshot.nodes.len(),
                    route_reflectors = snapshot.route_reflectors.len(),
                    peers = snapshot.peers.len(),
                    rejected = rejected.len(),
                    "initial read complete"
                );
                self.store = Some(store);
                self.send(SourceEvent::Snapshot(snapshot)).await?;
                Update {
                    rejected,
                    ..Update::default()
                }
            }
            Some(store) => {
                let update = apply_answer(store, &mut self.mirror, entries);
                if !update.changes.is_empty() {
                    debug!(
                        source = "consul",
                        changes = update.changes.len(),
                        "prefix changed"
                    );
                }
                update
            }
        };
        if !changes.is_empty() {
            self.send(SourceEvent::Changes(changes)).await?;
        }
        for r in rejected {
            let (key, reason) = (bounded_echo(&r.key), bounded_echo(&r.reason.to_string()));
            warn!(key = %key, reason = %reason, "Consul key rejected and skipped");
            self.send(SourceEvent::Rejected { key, reason }).await?;
        }
        for key in resolved {
            self.send(SourceEvent::Resolved { key }).await?;
        }
        Ok(())
    }

    async fn send(&self, event: SourceEvent) -> Result<(), SinkClosed> {
        self.sink.send(event).await.map_err(|_| SinkClosed)
    }
}

#[cfg(test)]
mod tests {
    use rrd_core::testing::conformance::seed_grown;
    use rrd_core::testing::fixtures;
    use rrd_layouts::calico_v1::encode;

    use super::*;

    fn answer(t: &Topology, extra: &[(&str, &str)]) -> Vec<KvEntry> {
        let mut out: Vec<KvEntry> = encode::to_kvs(t)
            .unwrap()
            .into_iter()
            .map(|(k, v)| KvEntry {
                key: format!("calico/bgp/v1/{}", k.path()),
                value: v.into_bytes(),
            })
            .collect();
        for (k, v) in extra {
            out.retain(|e| e.key != format!("calico/bgp/v1/{k}"));
            out.push(KvEntry {
                key: format!("calico/bgp/v1/{k}"),
                value: v.as_bytes().to_vec(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    #[test]
    fn decoding_only_what_differs_gives_what_a_full_re_read_gives() {
        let bad_rr = [("rr_v4/172.17.42.40", "{broken")];
        let bad_node = [
            ("host/kube-node1/ip_addr_v4", "300.1.1.1"),
            ("global/as_num", "x"),
        ];
        let answers = [
            answer(&fixtures::seed(), &[]),
            answer(&seed_grown(), &bad_rr),
            answer(&seed_grown(), &bad_node),
            answer(&fixtures::racks(), &[]),
            answer(&fixtures::seed(), &bad_node),
            answer(&fixtures::seed(), &[]),
            Vec::new(),
            answer(&fixtures::racks(), &bad_rr),
        ];
        let prefix = "calico/bgp/v1";
        let (mut full, _) = LegacyStore::from_kvs(prefix, kv_pairs(&answers[0]));
        let (mut incremental, _) = LegacyStore::from_kvs(prefix, kv_pairs(&answers[0]));
        let mut mirror = KvMirror::new(answers[0].clone());
        let mut emitted = incremental.snapshot();
        for (i, a) in answers.iter().enumerate().skip(1) {
            let update = full.replace_all(kv_pairs(a));
            let incremental_update = apply_answer(&mut incremental, &mut mirror, a.clone());
            assert_eq!(incremental.topology(), full.topology(), "answer {i}");
            for c in incremental_update.changes {
                emitted.apply(c);
            }
            assert_eq!(&emitted, full.topology(), "answer {i}: the changes");
            let keys = |r: &[Rejected]| r.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
            assert_eq!(
                keys(&incremental_update.rejected),
                keys(&update.rejected),
                "answer {i}"
            );
            let sorted = |mut keys: Vec<String>| {
                keys.sort();
                keys
            };
            assert_eq!(
                sorted(incremental_update.resolved),
                sorted(update.resolved),
                "answer {i}"
            );
        }
    }
}
