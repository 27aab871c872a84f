//! The benchmark's side of etcd: a fresh etcd for each fabric (started by
//! the lab, stopped by PID), the bulk load, and the timed writes whose
//! effect is then looked for in the daemon.

use std::time::{Duration, Instant};

use anyhow::Context;
use etcd_client::{Client, DeleteOptions, GetOptions, Txn, TxnOp};
use rrd_lab::etcd::EtcdHost;
use rrd_lab::{Host, Lab};

use crate::fabric::Write;

/// etcd's default `--max-txn-ops`.
const TXN_OPS: usize = 128;
/// Transactions in flight during a bulk load.
const LOAD_CONCURRENCY: usize = 8;

/// A running etcd and a client of it.
pub struct Etcd {
    host: EtcdHost,
    client: Client,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd").field("url", &self.url()).finish()
    }
}

impl Etcd {
    /// Start etcd on `host` with an empty data directory.
    pub async fn start_empty(lab: &Lab, host: &Host) -> anyhow::Result<Etcd> {
        let data = lab.path(&format!("{}-etcd-data", host.name));
        let _ = std::fs::remove_dir_all(&data);
        let etcd = tokio::task::block_in_place(|| EtcdHost::start(lab, host));
        let client = Client::connect([etcd.url()], None)
            .await
            .context("connect to etcd")?;
        Ok(Etcd { host: etcd, client })
    }

    pub fn url(&self) -> String {
        self.host.url()
    }

    /// Stop etcd (SIGTERM, by PID).
    pub fn stop(mut self) {
        tokio::task::block_in_place(|| self.host.stop());
    }

    /// Write every key, `TXN_OPS` per transaction, a few transactions in
    /// flight at once.
    pub async fn load(&self, kvs: Vec<(String, String)>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut chunks = kvs.chunks(TXN_OPS).map(<[_]>::to_vec);
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < LOAD_CONCURRENCY {
                let Some(chunk) = chunks.next() else { break };
                let mut kv = self.client.kv_client();
                running.spawn(async move {
                    let ops = chunk.into_iter().map(|(k, v)| TxnOp::put(k, v, None));
                    kv.txn(Txn::new().and_then(ops.collect::<Vec<_>>())).await
                });
            }
            match running.join_next().await {
                None => break,
                Some(r) => {
                    r.context("load task")?.context("etcd txn")?;
                }
            }
        }
        Ok(started.elapsed())
    }

    /// One write as one transaction (one revision, one watch response).
    pub async fn write(&self, write: &Write) -> anyhow::Result<()> {
        self.writer().write(write).await
    }

    /// A handle that writes from another task.
    pub fn writer(&self) -> Writer {
        Writer {
            client: self.client.clone(),
        }
    }

    /// Put one key outside every prefix rrd reads (the harness floor).
    pub async fn put_unwatched(&self, value: &str) -> anyhow::Result<()> {
        let mut kv = self.client.kv_client();
        kv.put("/rrd-bench/noop", value, None)
            .await
            .context("etcd put")?;
        Ok(())
    }

    /// How many keys start with `prefix`.
    pub async fn count(&self, prefix: &str) -> anyhow::Result<i64> {
        let mut kv = self.client.kv_client();
        let r = kv
            .get(
                prefix,
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await?;
        Ok(r.count())
    }

    /// The client, for the seed's confd-style loop.
    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

/// Writes to etcd from any task.
#[derive(Clone)]
pub struct Writer {
    client: Client,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// One write as one transaction (one revision, one watch response).
    pub async fn write(&self, write: &Write) -> anyhow::Result<()> {
        let mut kv = self.client.kv_client();
        match write {
            Write::Put(kvs) => {
                let ops: Vec<TxnOp> = kvs
                    .iter()
                    .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
                    .collect();
                kv.txn(Txn::new().and_then(ops)).await.context("etcd txn")?;
            }
            Write::DeletePrefix(prefix) => {
                kv.delete(prefix.as_str(), Some(DeleteOptions::new().with_prefix()))
                    .await
                    .context("etcd delete")?;
            }
        }
        Ok(())
    }
}
