//! Raw key access on either API, for tests that write what calicoctl, the
//! README's curl or an operator's typo would have written.

use crate::config::{EtcdApi, EtcdConfig};
use crate::error::EtcdError;
use crate::v2::V2Client;
use crate::v3::V3Client;

#[derive(Debug)]
enum Inner {
    V2(V2Client),
    V3(Box<V3Client>),
}

/// Put, delete and list keys on the API `config.api` names.
#[derive(Debug)]
pub struct RawKv {
    inner: Inner,
}

impl RawKv {
    pub async fn connect(config: &EtcdConfig) -> Result<RawKv, EtcdError> {
        Ok(RawKv {
            inner: match config.api {
                EtcdApi::V2 => Inner::V2(V2Client::new(config)?),
                EtcdApi::V3 => Inner::V3(Box::new(V3Client::connect(config).await?)),
            },
        })
    }

    pub async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        match &self.inner {
            Inner::V2(c) => c.put(key, value).await,
            Inner::V3(c) => c.put(key, value).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, EtcdError> {
        match &self.inner {
            Inner::V2(c) => c.get(key).await,
            Inner::V3(c) => c.get(key).await,
        }
    }

    /// `false` if the key did not exist.
    pub async fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        match &self.inner {
            Inner::V2(c) => c.delete(key).await,
            Inner::V3(c) => c.delete(key).await,
        }
    }

    /// Every key/value below `dir` (a directory path without trailing `/`).
    pub async fn list(&self, dir: &str) -> Result<Vec<(String, String)>, EtcdError> {
        match &self.inner {
            Inner::V2(c) => Ok(c.read_tree(dir).await?.0),
            Inner::V3(c) => Ok(c
                .read_prefix(format!("{}/", dir.trim_end_matches('/')).as_bytes(), 0)
                .await?
                .0
                .into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(&k).into_owned(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect()),
        }
    }
}
