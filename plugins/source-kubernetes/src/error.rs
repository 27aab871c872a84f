//! The Kubernetes plugin's errors: one variant per failed operation, cause
//! kept. Status errors carry what the API server's `Status` object said.

use std::path::PathBuf;
use std::time::Duration;

/// Why a Kubernetes operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The configuration is unusable; `field` is the config key at fault.
    #[error("kubernetes source config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The kubeconfig (or the in-cluster environment) is unusable.
    #[error("{origin}: {reason}")]
    Access { origin: String, reason: String },
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup ({what}): {source}")]
    Tls {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// A kubeconfig `exec` credential plugin failed.
    #[error("credential plugin {command}: {reason}")]
    Exec { command: String, reason: String },
    /// The request failed in transport (connect, TLS, reset, body cut).
    /// `detail` is the whole cause chain (reqwest's own message alone
    /// rarely says which).
    #[error("{operation} {url}: {detail}")]
    Http {
        operation: &'static str,
        url: String,
        detail: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API server answered with an error status.
    #[error("{operation} {url}: HTTP {status} {reason}: {message}")]
    Api {
        operation: &'static str,
        url: String,
        status: u16,
        reason: String,
        message: String,
    },
    /// The resourceVersion (or `continue` token) is older than the history
    /// the API server keeps: HTTP 410, or a watch `ERROR` event with code
    /// 410. Only a fresh list helps.
    #[error("{operation}: resource version expired (410 Gone): {message}")]
    Gone {
        operation: &'static str,
        message: String,
    },
    /// An answer that is not the API's JSON.
    #[error("{operation} {url}: unexpected answer: {detail}")]
    Protocol {
        operation: &'static str,
        url: String,
        detail: String,
    },
    #[error("{operation} {url}: no answer within {after:?}")]
    Timeout {
        operation: &'static str,
        url: String,
        after: Duration,
    },
}

impl KubeError {
    /// Whether trying again later may help (transport trouble, timeouts,
    /// an API server that is not ready or refuses for now), as opposed to
    /// a configuration mistake.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KubeError::Http { .. }
                | KubeError::Api { .. }
                | KubeError::Gone { .. }
                | KubeError::Protocol { .. }
                | KubeError::Timeout { .. }
                | KubeError::Exec { .. }
        )
    }

    /// Whether the API server said no to this request (an HTTP status in
    /// 400..500 other than 410 and 429): for a Secret, that is a problem of
    /// that Secret (RBAC, a bad name), not an outage.
    pub fn is_refusal(&self) -> bool {
        matches!(self, KubeError::Api { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

impl rrd_source_kit::Retryable for KubeError {
    fn is_retryable(&self) -> bool {
        KubeError::is_retryable(self)
    }
}
