//! The rrd-core source conformance fixture for Consul: a [`FakeConsul`]
//! and calico-v1 keys below the configured prefix, written over the KV
//! HTTP API as `consul kv put` would.

use std::collections::BTreeMap;

use rrd_core::testing::conformance::SourceFixture;
use rrd_core::Topology;
use rrd_layouts::calico_v1::encode;

use super::server::FakeConsul;
use crate::client::KvClient;
use crate::config::{ConsulConfig, Token};
use crate::source::ConsulSource;

/// A running fake and the configuration the sources under test use.
#[derive(Debug)]
pub struct ConsulFixture {
    pub server: FakeConsul,
    pub config: ConsulConfig,
    /// The token the fixture writes with (a management token when the
    /// test turned ACLs on).
    pub write_token: Option<Token>,
}

impl ConsulFixture {
    pub async fn start() -> ConsulFixture {
        let server = FakeConsul::start().await;
        let config = server.config();
        ConsulFixture {
            server,
            config,
            write_token: None,
        }
    }

    /// Full key of a path below the prefix.
    pub fn key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.config.prefix())
    }

    fn client(&self) -> KvClient {
        KvClient::with_token(&self.config, self.write_token.clone()).expect("KV client")
    }

    /// Write one key over HTTP.
    pub async fn put(&self, key: &str, value: &str) {
        self.client()
            .put(key, value.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    /// Delete one key over HTTP.
    pub async fn delete(&self, key: &str) {
        self.client()
            .delete(key, false)
            .await
            .unwrap_or_else(|e| panic!("delete {key}: {e}"));
    }

    /// Make Consul hold exactly `kvs` (full keys) below the prefix.
    pub async fn write_kvs(&self, kvs: BTreeMap<String, String>) {
        let client = self.client();
        let have: BTreeMap<String, Vec<u8>> = client
            .list(self.config.prefix(), 0)
            .await
            .expect("list")
            .entries
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        for (k, v) in &kvs {
            if have.get(k).map(Vec::as_slice) != Some(v.as_bytes()) {
                client.put(k, v.as_bytes()).await.expect("put");
            }
        }
        for k in have.keys().filter(|k| !kvs.contains_key(*k)) {
            client.delete(k, false).await.expect("delete");
        }
    }

    /// The calico-v1 keys of `topology`, below the prefix.
    pub fn calico_v1_kvs(&self, topology: &Topology) -> BTreeMap<String, String> {
        encode::to_kvs(topology)
            .expect("a topology calico-v1 can hold")
            .into_iter()
            .map(|(k, v)| (self.key(&k.path()), v))
            .collect()
    }
}

impl SourceFixture for ConsulFixture {
    type Source = ConsulSource;

    fn source(&mut self) -> ConsulSource {
        ConsulSource::new(self.config.clone()).expect("valid config")
    }

    async fn write(&mut self, topology: &Topology) {
        self.write_kvs(self.calico_v1_kvs(topology)).await
    }

    async fn write_invalid(&mut self) -> String {
        let key = self.key("rr_v4/198.51.100.250");
        self.put(
            &key,
            r#"{"ip":"198.51.100.250","cluster_id":"not-a-cluster-id"}"#,
        )
        .await;
        key
    }
}
