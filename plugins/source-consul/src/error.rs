//! The Consul plugin's errors: one variant per failed operation, cause kept.

use std::time::Duration;

use rrd_source_kit::{KitError, Retryable};

/// Why a Consul operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// The configuration is unusable; `field` is the config key at fault.
    #[error("consul source config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// A file the configuration names (TLS material, a password or
    /// token file) cannot be read or used.
    #[error(transparent)]
    Files(#[from] KitError),
    /// The configured ACL token is missing or empty (never shows the token).
    #[error("ACL token: {reason}")]
    Token { reason: String },
    /// The HTTP request failed in transport (connect, TLS, reset).
    #[error("{operation} via {address}: {source}")]
    Http {
        operation: &'static str,
        address: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{operation} via {address} timed out after {after:?}")]
    Timeout {
        operation: &'static str,
        address: String,
        after: Duration,
    },
    /// HTTP 403: the token is unknown ("ACL not found") or its policy does
    /// not allow the operation ("Permission denied").
    #[error(
        "{operation} via {address}: Consul refused the ACL token (HTTP 403: {detail}); \
         check token_file/token_env and that the token's policy grants key_prefix \
         \"{prefix}\" read"
    )]
    Forbidden {
        operation: &'static str,
        address: String,
        prefix: String,
        detail: String,
    },
    /// Consul left keys out of a listing because the token may not read
    /// them: the read is incomplete and must not replace the topology.
    #[error(
        "{operation} via {address}: the ACL token cannot read every key below {prefix:?} \
         (X-Consul-Results-Filtered-By-ACLs); an incomplete read is not used"
    )]
    FilteredByAcls {
        operation: &'static str,
        address: String,
        prefix: String,
    },
    /// Any other non-success answer (400, 5xx: "No cluster leader", "No
    /// path to datacenter", ...).
    #[error("{operation} via {address}: HTTP {status}: {detail}")]
    Api {
        operation: &'static str,
        address: String,
        status: u16,
        detail: String,
    },
    /// An answer that is not what Consul's API sends.
    #[error("{operation} via {address}: unexpected answer: {detail}")]
    Protocol {
        operation: &'static str,
        address: String,
        detail: String,
    },
    /// `consistency = "stale"`: the answering server last heard from the
    /// leader longer ago than `max_stale`.
    #[error(
        "{operation} via {address}: the answer is {last_contact:?} stale (max_stale {max_stale:?}{leader})",
        leader = if *known_leader { "" } else { ", no known leader" }
    )]
    TooStale {
        operation: &'static str,
        address: String,
        last_contact: Duration,
        max_stale: Duration,
        known_leader: bool,
    },
}

impl Retryable for ConsulError {
    fn is_retryable(&self) -> bool {
        ConsulError::is_retryable(self)
    }
}

impl ConsulError {
    /// Whether trying again later may help without anybody changing
    /// anything (transport trouble, timeouts, a cluster without a leader),
    /// as opposed to a configuration, token or policy mistake. The watch
    /// loop retries both kinds (a token or policy can be fixed while rrd
    /// runs); `rrd check` and `rrd render` fail fast on the second.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsulError::Http { .. }
            | ConsulError::Timeout { .. }
            | ConsulError::Protocol { .. }
            | ConsulError::TooStale { .. } => true,
            ConsulError::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}
