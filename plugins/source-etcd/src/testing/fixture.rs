//! The rrd-core source conformance fixture for etcd: a real server, one
//! API and one layout.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rrd_core::testing::conformance::SourceFixture;
use rrd_core::{RuleSet, Topology};
use rrd_layouts::calico_v1::{encode, LegacyStore};

use super::kv::RawKv;
use super::server::EtcdServer;
use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::source::EtcdSource;

/// A running etcd and the configuration the sources under test use.
#[derive(Debug)]
pub struct EtcdFixture {
    pub server: EtcdServer,
    pub config: EtcdConfig,
    pub kv: RawKv,
    /// The sources under test keep only this RR's data
    /// ([`EtcdSource::scoped_to`]).
    pub scope: Option<Vec<IpAddr>>,
}

impl EtcdFixture {
    pub async fn start(api: EtcdApi, layout: Layout) -> EtcdFixture {
        let server = EtcdServer::start().await;
        let config = server.config(api, layout);
        let kv = RawKv::connect(&config).await.expect("raw client");
        EtcdFixture {
            server,
            config,
            kv,
            scope: None,
        }
    }

    /// The same, with sources scoped to the RR at `own` addresses.
    pub async fn scoped(api: EtcdApi, layout: Layout, own: Vec<IpAddr>) -> EtcdFixture {
        EtcdFixture {
            scope: Some(own),
            ..EtcdFixture::start(api, layout).await
        }
    }

    /// Full key of a path below the prefix.
    pub fn key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.config.prefix())
    }

    /// Make the datastore hold exactly `kvs` (full keys) below the prefix.
    pub async fn write_kvs(&self, kvs: BTreeMap<String, String>) {
        let prefix = self.config.prefix();
        let have: BTreeMap<String, String> = self
            .kv
            .list(&prefix)
            .await
            .expect("list")
            .into_iter()
            .collect();
        for (k, v) in &kvs {
            if have.get(k) != Some(v) {
                self.kv.put(k, v).await.expect("put");
            }
        }
        for k in have.keys().filter(|k| !kvs.contains_key(*k)) {
            self.kv.delete(k).await.expect("delete");
        }
    }

    /// The calico-v1 keys of `topology`.
    pub fn calico_v1_kvs(&self, topology: &Topology) -> BTreeMap<String, String> {
        encode::to_kvs(topology)
            .expect("a topology calico-v1 can hold")
            .into_iter()
            .map(|(k, v)| (self.key(&k.path()), v))
            .collect()
    }
}

impl SourceFixture for EtcdFixture {
    type Source = EtcdSource;

    fn source(&mut self) -> EtcdSource {
        let source = EtcdSource::new(self.config.clone()).expect("valid config");
        match &self.scope {
            Some(own) => source.scoped_to(own.iter().copied()),
            None => source,
        }
    }

    async fn write(&mut self, topology: &Topology) {
        match self.config.layout {
            Layout::CalicoV1 => self.write_kvs(self.calico_v1_kvs(topology)).await,
            Layout::CalicoV3 => {
                let kvs = super::v3_objects::objects_for(topology, &self.config.prefix());
                self.write_kvs(kvs).await
            }
        }
    }

    async fn write_invalid(&mut self) -> String {
        let (key, value) = match self.config.layout {
            Layout::CalicoV1 => (
                self.key("rr_v4/198.51.100.250"),
                r#"{"ip":"198.51.100.250","cluster_id":"not-a-cluster-id"}"#.to_owned(),
            ),
            Layout::CalicoV3 => (
                self.key("bgppeers/broken-peer"),
                r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"broken-peer"},"spec":{"peerIP":"not-an-ip","asNumber":64512}}"#.to_owned(),
            ),
        };
        self.kv.put(&key, &value).await.expect("put invalid");
        key
    }

    fn expected(&self, written: &Topology) -> Topology {
        match (self.config.layout, &self.scope) {
            (Layout::CalicoV1, None) => written.clone(),
            // What a scoped store makes of the keys, read in one go.
            (Layout::CalicoV1, Some(own)) => {
                let mut store = LegacyStore::scoped(&self.config.prefix(), own.iter().copied());
                store.replace_all(self.calico_v1_kvs(written));
                store.into_topology()
            }
            (Layout::CalicoV3, _) => super::v3_objects::expected_for(written),
        }
    }

    fn rules(&self) -> RuleSet {
        match self.config.layout {
            Layout::CalicoV1 => RuleSet::Legacy,
            Layout::CalicoV3 => RuleSet::CalicoV3,
        }
    }
}
