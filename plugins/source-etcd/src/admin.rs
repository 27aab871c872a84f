//! [`EtcdAdmin`]: the library behind `rrd rr add|list|remove`,
//! `rrd peer add|remove`, `rrd node-mesh` and `rrd default-as` on etcd.
//!
//! Arguments are validated first ([`Command`]); only then is anything
//! written, on the API the configuration names, with exactly the keys and
//! JSON calicoctl and the routereflector README wrote (see
//! [`rrd_layouts::calico_v1::admin`]).

use rrd_core::{Asn, RouteReflector, RuleSet};
use rrd_layouts::calico_v1::admin::{Command, KvWrite};
use rrd_layouts::calico_v1::{LegacyKey, LegacyStore};

use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::error::EtcdError;
use crate::v2::V2Client;
use crate::v3::V3Client;

/// Writes and reads calico-v1 keys for the admin commands.
#[derive(Debug, Clone)]
pub struct EtcdAdmin {
    config: EtcdConfig,
}

/// `rr list`: the registered RRs, and records that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrList {
    pub reflectors: Vec<RouteReflector>,
    /// (full key, reason)
    pub rejected: Vec<(String, String)>,
}

enum Conn {
    V2(V2Client),
    V3(Box<V3Client>),
}

impl Conn {
    async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        match self {
            Conn::V2(c) => c.put(key, value).await,
            Conn::V3(c) => c.put(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        match self {
            Conn::V2(c) => c.delete(key).await,
            Conn::V3(c) => c.delete(key).await,
        }
    }

    async fn get(&self, key: &str) -> Result<Option<String>, EtcdError> {
        match self {
            Conn::V2(c) => c.get(key).await,
            Conn::V3(c) => c.get(key).await,
        }
    }

    async fn read_dir(&self, dir: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>, EtcdError> {
        match self {
            Conn::V2(c) => Ok(c
                .read_tree(dir)
                .await?
                .0
                .into_iter()
                .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
                .collect()),
            Conn::V3(c) => Ok(c.read_prefix(format!("{dir}/").as_bytes(), 0).await?.0),
        }
    }
}

impl EtcdAdmin {
    /// Admin commands exist for the calico-v1 layout only (Calico v3
    /// resources are written with calicoctl).
    pub fn new(config: EtcdConfig) -> Result<EtcdAdmin, EtcdError> {
        config.validate()?;
        if config.layout != Layout::CalicoV1 {
            return Err(EtcdError::AdminLayout {
                layout: config.layout.label(),
            });
        }
        Ok(EtcdAdmin { config })
    }

    async fn conn(&self) -> Result<Conn, EtcdError> {
        Ok(match self.config.api {
            EtcdApi::V2 => Conn::V2(V2Client::new(&self.config)?),
            EtcdApi::V3 => Conn::V3(Box::new(V3Client::connect(&self.config).await?)),
        })
    }

    /// The full etcd key of a calico-v1 key.
    pub fn full_key(&self, key: &LegacyKey) -> String {
        format!("{}/{}", self.config.prefix(), key.path())
    }

    /// Perform a validated command. Removing a key that does not exist is
    /// [`EtcdError::NotFound`].
    pub async fn execute(&self, command: &Command) -> Result<(), EtcdError> {
        let conn = self.conn().await?;
        match command.write() {
            KvWrite::Put { key, value } => conn.put(&self.full_key(&key), &value).await,
            KvWrite::Delete { key } => {
                let full = self.full_key(&key);
                if conn.delete(&full).await? {
                    Ok(())
                } else {
                    Err(EtcdError::NotFound { key: full })
                }
            }
        }
    }

    /// `rr add <ip> [--cluster-id X]`
    pub async fn rr_add(&self, ip: &str, cluster_id: Option<&str>) -> Result<(), EtcdError> {
        self.execute(&Command::rr_add(ip, cluster_id)?).await
    }

    /// `rr remove <ip>`
    pub async fn rr_remove(&self, ip: &str) -> Result<(), EtcdError> {
        self.execute(&Command::rr_remove(ip)?).await
    }

    /// `rr list`: IPv4 RRs first, each family in address order.
    pub async fn rr_list(&self) -> Result<RrList, EtcdError> {
        let conn = self.conn().await?;
        let prefix = self.config.prefix();
        let mut kvs = conn.read_dir(&format!("{prefix}/rr_v4")).await?;
        kvs.extend(conn.read_dir(&format!("{prefix}/rr_v6")).await?);
        let (store, rejected) = LegacyStore::from_kvs(&prefix, kvs);
        Ok(RrList {
            reflectors: store
                .topology()
                .route_reflectors
                .values()
                .cloned()
                .collect(),
            rejected: rejected
                .into_iter()
                .map(|r| (r.key, r.reason.to_string()))
                .collect(),
        })
    }

    /// `peer add <ip> --as N [--node NAME]`
    pub async fn peer_add(&self, ip: &str, asn: &str, node: Option<&str>) -> Result<(), EtcdError> {
        self.execute(&Command::peer_add(ip, asn, node)?).await
    }

    /// `peer remove <ip> [--node NAME]`
    pub async fn peer_remove(&self, ip: &str, node: Option<&str>) -> Result<(), EtcdError> {
        self.execute(&Command::peer_remove(ip, node)?).await
    }

    /// `node-mesh [on|off]`: set when given, then return the state in force
    /// (missing key = on).
    pub async fn node_mesh(&self, state: Option<&str>) -> Result<bool, EtcdError> {
        if let Some(s) = state {
            self.execute(&Command::node_mesh(s)?).await?;
        }
        let t = self.read_key(&LegacyKey::NodeMesh).await?;
        Ok(t.defaults.node_mesh)
    }

    /// `default-as [N]`: set when given, then return the AS in force
    /// (missing key = 64511, the legacy default).
    pub async fn default_as(&self, asn: Option<&str>) -> Result<Asn, EtcdError> {
        if let Some(a) = asn {
            self.execute(&Command::default_as(a)?).await?;
        }
        let t = self.read_key(&LegacyKey::DefaultAsn).await?;
        Ok(t.defaults
            .asn
            .unwrap_or_else(|| RuleSet::Legacy.default_asn()))
    }

    /// The raw value of one key, as stored.
    pub async fn get_raw(&self, key: &LegacyKey) -> Result<Option<String>, EtcdError> {
        self.conn().await?.get(&self.full_key(key)).await
    }

    /// Decode one key; a bad stored value is an error naming the key.
    async fn read_key(&self, key: &LegacyKey) -> Result<rrd_core::Topology, EtcdError> {
        let full = self.full_key(key);
        let mut store = LegacyStore::new(&self.config.prefix());
        if let Some(v) = self.get_raw(key).await? {
            if let Some(r) = store.set(&full, v).rejected.into_iter().next() {
                return Err(EtcdError::BadValue {
                    key: r.key,
                    reason: r.reason.to_string(),
                });
            }
        }
        Ok(store.snapshot())
    }
}
