//! The test's own hand on etcd: v3 writes, range deletes, transactions and
//! compactions through etcd-client, from a thread inside the etcd host's
//! namespace (the lab's bridge is not reachable from the test's own).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, CompactionOptions, DeleteOptions, Txn, TxnOp};
use rrd_lab::Host;

/// etcd's client API on a lab host.
#[derive(Clone, Debug)]
pub struct Datastore {
    host: Host,
    url: String,
}

/// Longest one operation (connect included) may take.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// A write of a burst: put `Some(value)` or delete.
pub type Write = (String, Option<String>);

impl Datastore {
    pub fn new(host: &Host, url: String) -> Datastore {
        Datastore {
            host: host.clone(),
            url,
        }
    }

    /// Run `op` with a fresh client inside the etcd host's namespace.
    fn with_client<T, F, Fut>(&self, what: &str, op: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let url = self.url.clone();
        let result = self.host.run_inside(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for etcd-client");
            rt.block_on(async move {
                let work = async {
                    let client = Client::connect([url], None).await?;
                    op(client).await
                };
                match tokio::time::timeout(OP_TIMEOUT, work).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {OP_TIMEOUT:?}")),
                }
            })
        });
        result.unwrap_or_else(|e| panic!("etcd {what}: {e}"))
    }

    /// Put every pair in one transaction (atomic: rrd sees all or none).
    pub fn put_all(&self, kvs: BTreeMap<String, String>) {
        self.with_client("transaction", move |mut c| async move {
            let ops: Vec<TxnOp> = kvs
                .into_iter()
                .map(|(k, v)| TxnOp::put(k, v, None))
                .collect();
            c.txn(Txn::new().and_then(ops)).await.map(|_| ())
        });
    }

    /// Put one key (its name may be any bytes).
    pub fn put(&self, key: Vec<u8>, value: String) {
        self.with_client("put", move |mut c| async move {
            c.put(key, value, None).await.map(|_| ())
        });
    }

    pub fn delete(&self, key: Vec<u8>) {
        self.with_client("delete", move |mut c| async move {
            c.delete(key, None).await.map(|_| ())
        });
    }

    /// Delete every key under `prefix` in one range delete; returns how
    /// many were deleted.
    pub fn delete_prefix(&self, prefix: &str) -> i64 {
        let prefix = prefix.to_owned();
        self.with_client("range delete", move |mut c| async move {
            let r = c
                .delete(prefix, Some(DeleteOptions::new().with_prefix()))
                .await?;
            Ok(r.deleted())
        })
    }

    /// Each write in order, one request each, on one connection.
    pub fn write_each(&self, writes: Vec<Write>) {
        self.with_client("burst", move |mut c| async move {
            for (key, value) in writes {
                match value {
                    Some(v) => c.put(key, v, None).await.map(|_| ())?,
                    None => c.delete(key, None).await.map(|_| ())?,
                }
            }
            Ok(())
        });
    }

    /// Compact (physically) up to the current revision; returns it.
    pub fn compact_to_now(&self) -> i64 {
        self.with_client("compaction", |mut c| async move {
            let revision = c
                .get("/", None)
                .await?
                .header()
                .map(|h| h.revision())
                .unwrap_or_default();
            c.compact(revision, Some(CompactionOptions::new().with_physical()))
                .await?;
            Ok(revision)
        })
    }
}
