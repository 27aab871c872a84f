//! The etcd plugin's errors: one variant per failed operation, cause kept.

use std::time::Duration;

use rrd_layouts::calico_v1::admin::ArgumentError;
use rrd_source_kit::{KitError, Retryable};

/// Why an etcd operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The configuration is unusable; `field` is the config key at fault.
    #[error("etcd source config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// A drop-in environment variable is unusable.
    #[error("environment variable {variable}: {reason}")]
    Env {
        variable: &'static str,
        reason: String,
    },
    /// A file the configuration names (TLS material, a password or
    /// token file) cannot be read or used.
    #[error(transparent)]
    Files(#[from] KitError),
    /// The v2 HTTP request failed in transport (connect, TLS, reset).
    #[error("{operation} via {endpoint}: {source}")]
    Http {
        operation: &'static str,
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// etcd v2 answered with an error document.
    #[error("{operation} via {endpoint}: etcd error {code} ({message}: {cause})")]
    V2Api {
        operation: &'static str,
        endpoint: String,
        code: u64,
        message: String,
        cause: String,
    },
    /// etcd v2 answered with something that is not its JSON.
    #[error("{operation} via {endpoint}: unexpected answer (HTTP {status}): {detail}")]
    V2Protocol {
        operation: &'static str,
        endpoint: String,
        status: u16,
        detail: String,
    },
    /// A v3 gRPC call failed.
    #[error("{operation}: {source}")]
    V3 {
        operation: &'static str,
        #[source]
        source: etcd_client::Error,
    },
    /// The v3 watch stream ended or was cancelled without a compaction.
    #[error("watch ended: {reason}")]
    WatchEnded { reason: String },
    /// The task running one request ended without its answer (it
    /// panicked or the runtime is shutting down).
    #[error("{operation}: its task ended without an answer: {reason}")]
    TaskEnded {
        operation: &'static str,
        reason: String,
    },
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        operation: &'static str,
        after: Duration,
    },
    /// An admin command named a key that does not exist.
    #[error("{key} does not exist")]
    NotFound { key: String },
    /// A stored value an admin command needed could not be decoded.
    #[error("{key}: {reason}")]
    BadValue { key: String, reason: String },
    /// An admin command argument is nonsense; nothing was written.
    #[error(transparent)]
    Argument(#[from] ArgumentError),
    /// Admin commands write calico-v1 keys only.
    #[error("admin commands write calico-v1 keys; layout {layout} is managed with calicoctl")]
    AdminLayout { layout: &'static str },
}

impl Retryable for EtcdError {
    fn is_retryable(&self) -> bool {
        EtcdError::is_retryable(self)
    }
}

impl EtcdError {
    /// Whether trying again later may help (transport trouble, timeouts,
    /// an etcd that is not ready yet), as opposed to a configuration or
    /// argument mistake.
    pub fn is_retryable(&self) -> bool {
        match self {
            EtcdError::Http { .. }
            | EtcdError::V2Protocol { .. }
            | EtcdError::WatchEnded { .. }
            | EtcdError::TaskEnded { .. }
            | EtcdError::Timeout { .. } => true,
            // 300..: raft/server trouble; 100.. are client mistakes.
            EtcdError::V2Api { code, .. } => *code >= 300,
            EtcdError::V3 { source, .. } => !matches!(source, etcd_client::Error::InvalidArgs(_)),
            _ => false,
        }
    }
}
