//! The engine's own errors, one variant per failed operation (mostly one
//! per RPC), converted to [`rrd_core::EngineError`] at the trait boundary.

use rrd_core::EngineError;

/// The engine name in [`EngineError`]s.
pub(crate) const ENGINE: &str = "gobgp";

/// Why a GoBGP engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GobgpError {
    #[error("cannot connect to gobgpd at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("gobgpd at {endpoint} did not answer within {waited:?}: {last}")]
    NotReady {
        endpoint: String,
        waited: std::time::Duration,
        last: String,
    },
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot signal gobgpd (pid {pid}): {source}")]
    Signal {
        pid: u32,
        #[source]
        source: nix::Error,
    },
    /// Something holds the API address that rrd cannot adopt.
    #[error("something that rrd did not start already listens on {endpoint} ({detail}): stop it, or set engine.gobgp.manage_process = false to drive it")]
    AlreadyRunning { endpoint: String, detail: String },
    /// Another rrd holds the lock on the PID file: it supervises gobgpd.
    #[error("another rrd already manages this gobgpd: {} is locked", pid_file.display())]
    ManagedElsewhere { pid_file: std::path::PathBuf },
    #[error("PID file {}: {source}", path.display())]
    PidFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot track gobgpd pid {pid} with a pidfd (Linux >= 5.3 needed): {source}")]
    Track {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("GetBgp: {0}")]
    GetBgp(#[source] tonic::Status),
    #[error("StartBgp (router id {router_id}, AS {asn}): {source}")]
    StartBgp {
        router_id: String,
        asn: u32,
        #[source]
        source: tonic::Status,
    },
    #[error("StopBgp: {0}")]
    StopBgp(#[source] tonic::Status),
    #[error("AddPeer {address} ({key}): {source}")]
    AddPeer {
        address: String,
        key: String,
        #[source]
        source: tonic::Status,
    },
    #[error("DeletePeer {address} ({key}): {source}")]
    DeletePeer {
        address: String,
        key: String,
        #[source]
        source: tonic::Status,
    },
    #[error("UpdatePeer {address} ({key}): {source}")]
    UpdatePeer {
        address: String,
        key: String,
        #[source]
        source: tonic::Status,
    },
    #[error("ListPeer: {0}")]
    ListPeer(#[source] tonic::Status),
    #[error("ListPath: {0}")]
    ListPath(#[source] tonic::Status),
    #[error("WatchEvent: {0}")]
    WatchEvent(#[source] tonic::Status),
    /// gobgpd answered with something rrd cannot read (a bad address in a
    /// peer it holds, say).
    #[error("gobgpd sent {what}: {detail}")]
    Decode { what: &'static str, detail: String },
    /// The desired configuration cannot be expressed in GoBGP.
    #[error("{0}")]
    Unsupported(String),
}

impl From<rrd_process::PidFileError> for GobgpError {
    fn from(e: rrd_process::PidFileError) -> GobgpError {
        match e {
            rrd_process::PidFileError::Locked { path } => {
                GobgpError::ManagedElsewhere { pid_file: path }
            }
            rrd_process::PidFileError::Open { path, source } => {
                GobgpError::PidFile { path, source }
            }
        }
    }
}

impl From<rrd_process::SpawnError> for GobgpError {
    fn from(e: rrd_process::SpawnError) -> GobgpError {
        match e {
            rrd_process::SpawnError::Spawn { program, source } => GobgpError::Spawn {
                binary: program,
                source,
            },
            rrd_process::SpawnError::Track { pid, source } => GobgpError::Track { pid, source },
        }
    }
}

impl GobgpError {
    /// Whether the failure looks like "gobgpd is not there" rather than
    /// "gobgpd refused this".
    pub fn is_unreachable(&self) -> bool {
        let status = match self {
            GobgpError::Connect { .. } | GobgpError::NotReady { .. } => return true,
            GobgpError::GetBgp(s)
            | GobgpError::StopBgp(s)
            | GobgpError::ListPeer(s)
            | GobgpError::ListPath(s)
            | GobgpError::WatchEvent(s) => s,
            GobgpError::StartBgp { source, .. }
            | GobgpError::AddPeer { source, .. }
            | GobgpError::DeletePeer { source, .. }
            | GobgpError::UpdatePeer { source, .. } => source,
            _ => return false,
        };
        let transport = std::error::Error::source(status)
            .is_some_and(|e| e.downcast_ref::<tonic::transport::Error>().is_some());
        transport
            || matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            )
    }

    /// gobgpd answered that the peer asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GobgpError::ListPeer(s) if s.code() == tonic::Code::NotFound
            || s.message().contains("not found"))
    }

    /// The [`EngineError`] the runtime sees.
    pub fn into_engine_error(self, endpoint: &str) -> EngineError {
        if self.is_unreachable() {
            return EngineError::Unreachable {
                engine: ENGINE,
                endpoint: endpoint.to_owned(),
                detail: self.to_string(),
            };
        }
        match self {
            GobgpError::Unsupported(reason) => EngineError::Unsupported {
                engine: ENGINE,
                reason,
            },
            // gobgpd refused a peer or the global config (its errors are
            // status UNKNOWN with a text): the configuration, not the
            // transport, is at fault.
            GobgpError::AddPeer { .. }
            | GobgpError::UpdatePeer { .. }
            | GobgpError::StartBgp { .. } => EngineError::Rejected {
                engine: ENGINE,
                reason: self.to_string(),
            },
            GobgpError::ManagedElsewhere { pid_file } => EngineError::ManagedElsewhere {
                engine: ENGINE,
                pid_file: pid_file.display().to_string(),
            },
            other => EngineError::Failed {
                engine: ENGINE,
                operation: other.operation(),
                source: Box::new(other),
            },
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            GobgpError::Connect { .. } | GobgpError::NotReady { .. } => "connect",
            GobgpError::Spawn { .. } => "spawn gobgpd",
            GobgpError::Signal { .. } => "signal gobgpd",
            GobgpError::AlreadyRunning { .. }
            | GobgpError::ManagedElsewhere { .. }
            | GobgpError::PidFile { .. }
            | GobgpError::Track { .. } => "start gobgpd",
            GobgpError::GetBgp(_) => "GetBgp",
            GobgpError::StartBgp { .. } => "StartBgp",
            GobgpError::StopBgp(_) => "StopBgp",
            GobgpError::AddPeer { .. } => "AddPeer",
            GobgpError::DeletePeer { .. } => "DeletePeer",
            GobgpError::UpdatePeer { .. } => "UpdatePeer",
            GobgpError::ListPeer(_) => "ListPeer",
            GobgpError::ListPath(_) => "ListPath",
            GobgpError::WatchEvent(_) => "WatchEvent",
            GobgpError::Decode { .. } => "decode",
            GobgpError::Unsupported(_) => "validate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_status_becomes_unreachable() {
        let e = GobgpError::ListPeer(tonic::Status::unavailable("connection refused"));
        assert!(matches!(
            e.into_engine_error("127.0.0.1:1"),
            EngineError::Unreachable { .. }
        ));
    }

    #[test]
    fn a_refused_peer_is_rejected_and_not_retryable() {
        let e = GobgpError::AddPeer {
            address: "198.51.100.2".into(),
            key: "Node_198_51_100_2".into(),
            source: tonic::Status::unknown("can't overwrite the existing peer"),
        };
        let e = e.into_engine_error("x");
        assert!(matches!(e, EngineError::Rejected { .. }));
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("Node_198_51_100_2"));
    }

    #[test]
    fn a_failed_delete_keeps_the_rpc_name_as_operation() {
        let e = GobgpError::DeletePeer {
            address: "198.51.100.2".into(),
            key: "k".into(),
            source: tonic::Status::unknown("no such peer"),
        };
        match e.into_engine_error("x") {
            EngineError::Failed { operation, .. } => assert_eq!(operation, "DeletePeer"),
            other => panic!("{other:?}"),
        }
    }
}
