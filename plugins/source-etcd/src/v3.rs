//! The etcd v3 API through `etcd-client` (tonic gRPC): a paged range read
//! at one revision, a prefix watch from the next revision, and the few
//! writes the admin commands need.
//!
//! Paging: the first page fixes the revision; later pages ask for that
//! revision explicitly and continue after the last key, so the read is one
//! consistent snapshot however many pages it takes (100,000 nodes are
//! ~400,000 keys, ~30 MB: far over tonic's 4 MiB default per message). The
//! decode limit is raised as well, for big pages and big watch batches.

use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, DeleteOptions, GetOptions, Identity, TlsOptions,
    WatchOptions, WatchStream,
};

use crate::config::EtcdConfig;
use crate::error::EtcdError;

pub(crate) type Kvs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Clone)]
pub(crate) struct V3Client {
    client: Client,
    page_size: i64,
    max_message_bytes: usize,
    request_timeout: Duration,
}

impl std::fmt::Debug for V3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V3Client")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

async fn timed<T>(
    operation: &'static str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(after, fut).await {
        Err(_) => Err(EtcdError::Timeout { operation, after }),
        Ok(r) => r.map_err(|source| EtcdError::V3 { operation, source }),
    }
}

impl V3Client {
    pub async fn connect(config: &EtcdConfig) -> Result<V3Client, EtcdError> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(config.dial_timeout)
            .with_keep_alive(config.keepalive_interval, config.keepalive_timeout)
            .with_keep_alive_while_idle(true)
            .with_tcp_keepalive(Duration::from_secs(30));
        let https = config.endpoints.iter().any(|e| e.starts_with("https://"));
        if https {
            let mut tls = TlsOptions::new();
            match config.tls_files()? {
                Some(files) => {
                    match files.ca {
                        Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(ca)),
                        None => tls = tls.with_native_roots(),
                    }
                    if let Some((cert, key)) = files.identity {
                        tls = tls.identity(Identity::from_pem(cert, key));
                    }
                }
                None => tls = tls.with_native_roots(),
            }
            opts = opts.with_tls(tls);
        }
        if let Some((user, password)) = config.credentials()? {
            opts = opts.with_user(user, password);
        }
        // Endpoints in order, each probed: tonic's balanced channel may hand
        // a request to an endpoint that refuses connections, so one dead
        // etcd member would fail reads at random.
        let mut last_error = None;
        for endpoint in &config.endpoints {
            match Self::connect_one(config, endpoint, opts.clone()).await {
                Ok(client) => {
                    return Ok(V3Client {
                        client,
                        page_size: i64::from(config.page_size),
                        max_message_bytes: config.max_message_bytes,
                        request_timeout: config.request_timeout,
                    })
                }
                Err(e) => {
                    tracing::debug!(%endpoint, error = %e, "etcd endpoint unusable; trying the next");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(EtcdError::Config {
            field: "endpoints",
            reason: "no endpoint configured".into(),
        }))
    }

    /// Connect to one endpoint and prove it answers (a count-only range).
    async fn connect_one(
        config: &EtcdConfig,
        endpoint: &str,
        opts: ConnectOptions,
    ) -> Result<Client, EtcdError> {
        let within = config.dial_timeout + config.request_timeout;
        let client = timed(
            "v3 connect",
            within,
            Client::connect([endpoint], Some(opts)),
        )
        .await?;
        let mut kv = client.kv_client();
        timed(
            "v3 connect",
            within,
            kv.get(vec![0u8], Some(GetOptions::new().with_count_only())),
        )
        .await?;
        Ok(client)
    }

    /// Every key/value starting with `prefix`, read at one revision
    /// (`at_revision`, or the current one when 0), and that revision: watch
    /// from `revision + 1`.
    pub async fn read_prefix(
        &self,
        prefix: &[u8],
        at_revision: i64,
    ) -> Result<(Kvs, i64), EtcdError> {
        let mut out = Vec::new();
        let revision = self
            .read_prefix_pages(prefix, at_revision, |page| out.extend(page))
            .await?;
        Ok((out, revision))
    }

    /// [`V3Client::read_prefix`], each page handed to `on_page` as it comes
    /// (a large read is never held whole). The request for the next page
    /// is on its way (in its own task) while `on_page` decodes this one, so
    /// etcd's work and the decoding overlap.
    pub async fn read_prefix_pages(
        &self,
        prefix: &[u8],
        at_revision: i64,
        mut on_page: impl FnMut(Kvs),
    ) -> Result<i64, EtcdError> {
        let end = prefix_end(prefix);
        let kv = self
            .client
            .kv_client()
            .max_decoding_message_size(self.max_message_bytes);
        let page = |from: Vec<u8>, revision: i64| {
            let mut opts = GetOptions::new().with_range(end.clone());
            if self.page_size > 0 {
                opts = opts.with_limit(self.page_size);
            }
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let mut kv = kv.clone();
            let within = self.request_timeout;
            AbortOnDrop(tokio::spawn(async move {
                timed("v3 range read", within, kv.get(from, Some(opts))).await
            }))
        };
        // The first page fixes the revision the others are read at.
        let mut revision = at_revision;
        let mut pending = Some(page(prefix.to_vec(), revision));
        let started = std::time::Instant::now();
        let (mut pages, mut keys, mut waited) = (0usize, 0usize, Duration::ZERO);
        while let Some(fetch) = pending.take() {
            let asked = std::time::Instant::now();
            let mut resp = fetch.join().await?;
            waited += asked.elapsed();
            if revision == 0 {
                revision = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let kvs = resp.take_kvs();
            if resp.more() {
                if let Some(last) = kvs.last() {
                    let mut from = last.key().to_vec();
                    from.push(0);
                    pending = Some(page(from, revision));
                }
            }
            pages += 1;
            keys += kvs.len();
            on_page(kvs.into_iter().map(|k| k.into_key_value()).collect());
        }
        // Where a large read's time goes: waiting for etcd's pages, or
        // handling them here (the next page is fetched meanwhile).
        tracing::debug!(
            prefix = %String::from_utf8_lossy(prefix),
            pages,
            keys,
            took = ?started.elapsed(),
            waited_for_etcd = ?waited,
            "range read"
        );
        Ok(revision)
    }

    /// How many keys start with `prefix` (a count-only range: nothing is
    /// transferred).
    pub async fn count_prefix(&self, prefix: &[u8]) -> Result<i64, EtcdError> {
        let opts = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_count_only();
        let mut kv = self.client.kv_client();
        let resp = timed(
            "v3 count",
            self.request_timeout,
            kv.get(prefix.to_vec(), Some(opts)),
        )
        .await?;
        Ok(resp.count())
    }

    /// One watch stream with a watcher on every key starting with each of
    /// `prefixes`, all from `start_revision`.
    pub async fn watch(
        &self,
        prefixes: &[String],
        start_revision: i64,
    ) -> Result<WatchStream, EtcdError> {
        let opts = |p: &str| {
            WatchOptions::new()
                .with_range(prefix_end(p.as_bytes()))
                .with_start_revision(start_revision)
                .with_progress_notify()
        };
        let mut w = self
            .client
            .watch_client()
            .max_decoding_message_size(self.max_message_bytes);
        let (first, rest) = prefixes.split_first().expect("at least one prefix");
        let mut stream = timed(
            "v3 watch",
            self.request_timeout,
            w.watch(first.as_bytes().to_vec(), Some(opts(first))),
        )
        .await?;
        for p in rest {
            timed(
                "v3 watch",
                self.request_timeout,
                stream.watch(p.as_bytes().to_vec(), Some(opts(p))),
            )
            .await?;
        }
        Ok(stream)
    }

    /// Whether a v3 error says the requested revision was compacted.
    pub fn is_compacted(e: &EtcdError) -> bool {
        matches!(e, EtcdError::V3 { source, .. } if source.to_string().contains("compacted"))
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, EtcdError> {
        let mut kv = self.client.kv_client();
        let resp = timed("v3 get", self.request_timeout, kv.get(key, None)).await?;
        Ok(resp
            .kvs()
            .first()
            .map(|k| String::from_utf8_lossy(k.value()).into_owned()))
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        let mut kv = self.client.kv_client();
        timed("v3 put", self.request_timeout, kv.put(key, value, None)).await?;
        Ok(())
    }

    /// Delete one key; `false` if it did not exist.
    pub async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        let mut kv = self.client.kv_client();
        let resp = timed(
            "v3 delete",
            self.request_timeout,
            kv.delete(key, None::<DeleteOptions>),
        )
        .await?;
        Ok(resp.deleted() > 0)
    }
}

/// A page read running in its own task, stopped if nobody waits for it
/// any more (the read failed, or was dropped).
struct AbortOnDrop<T>(tokio::task::JoinHandle<Result<T, EtcdError>>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, EtcdError> {
        match (&mut self.0).await {
            Ok(r) => r,
            Err(e) => Err(EtcdError::TaskEnded {
                operation: "v3 range read",
                reason: e.to_string(),
            }),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"/calico/bgp/v1/"), b"/calico/bgp/v10".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
