//! The Kubernetes plugin's errors: one variant per failed operation, cause
//! kept. API refusals carry what the API server's `Status` object said.

/// Why a Kubernetes operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The configuration is unusable; `field` is the config key at fault.
    #[error("kubernetes source config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The kubeconfig (or the in-cluster environment) is unusable.
    #[error("{origin}: {reason}")]
    Access { origin: String, reason: String },
    /// A file the access needs (kubeconfig, service account) is missing.
    #[error(transparent)]
    Files(#[from] rrd_source_kit::KitError),
    /// kube could not make a client of the resolved access (TLS material,
    /// credential plugins, proxy).
    #[error("{origin}: {detail}")]
    Client {
        origin: String,
        detail: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API server refused (an HTTP status with a `Status` object).
    #[error("{operation}: HTTP {status} {reason}: {message}")]
    Api {
        operation: String,
        status: u16,
        reason: String,
        message: String,
    },
    /// The request failed in transport (connect, TLS, reset, timeout) or
    /// the answer was not the API's JSON; `detail` is the cause chain.
    #[error("{operation}: {detail}")]
    Transport { operation: String, detail: String },
    /// Neither Calico API group serves what rrd reads.
    #[error("{0}")]
    CalicoAbsent(String),
}

impl KubeError {
    /// `e` from kube, for `operation` ("list bgppeers", "discovery", ...).
    pub(crate) fn from_kube(operation: impl Into<String>, e: &kube::Error) -> KubeError {
        let operation = operation.into();
        match e {
            kube::Error::Api(status) => KubeError::Api {
                operation,
                status: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => KubeError::Transport {
                operation,
                detail: rrd_source_kit::chain(other),
            },
        }
    }

    /// Whether trying again later may help (transport trouble, an API
    /// server that is not ready or refuses for now, Calico not installed
    /// yet), as opposed to a configuration mistake.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KubeError::Api { .. } | KubeError::Transport { .. } | KubeError::CalicoAbsent(_)
        )
    }

    /// Whether the API server said no to this request (an HTTP status in
    /// 400..500 other than 410 and 429): for a Secret, that is a problem of
    /// that Secret (RBAC, a bad name), not an outage.
    pub fn is_refusal(&self) -> bool {
        matches!(self, KubeError::Api { status, .. } if (400..500).contains(status) && *status != 410 && *status != 429)
    }

    /// The resourceVersion or `continue` token left the server's history.
    pub fn is_gone(&self) -> bool {
        matches!(self, KubeError::Api { status: 410, .. })
    }
}

impl rrd_source_kit::Retryable for KubeError {
    fn is_retryable(&self) -> bool {
        KubeError::is_retryable(self)
    }
}
