//! The engine's own errors, one variant per failed operation, converted to
//! [`rrd_core::EngineError`] at the trait boundary.

use std::path::PathBuf;

use rrd_core::EngineError;

use crate::config::ConfigError;
use crate::render::RenderError;
use crate::vty::VtyError;

/// The engine name in [`EngineError`]s (`engine.kind`).
pub(crate) const ENGINE: &str = "frr";

/// Why an FRR engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FrrError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The desired configuration cannot be expressed in FRR.
    #[error("{0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Vty(#[from] VtyError),
    /// bgpd refused a command; what was applied before it was undone.
    #[error("bgpd refused `{command}`: {message}{}", if *rolled_back { " (the commands before it were undone)" } else { "" })]
    Refused {
        command: String,
        message: String,
        rolled_back: bool,
    },
    /// `bgpd -C` found errors in the configuration; nothing was applied.
    #[error("bgpd -C refused the configuration: {message}")]
    Check { message: String },
    #[error("cannot run {} to check a configuration: {source}", binary.display())]
    RunCheck {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// After an apply bgpd holds something else than what was applied.
    #[error("after the apply bgpd's view {view} differs from what rrd rendered: {detail}")]
    Diverged { view: String, detail: String },
    #[error("bgpd answered `{command}` with something rrd cannot read: {detail}")]
    Decode { command: String, detail: String },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot track bgpd pid {pid} with a pidfd (Linux >= 5.3 needed): {source}")]
    Track {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("PID file {}: {source}", path.display())]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another rrd holds the lock on the PID file: it supervises bgpd.
    #[error("another rrd already manages this bgpd: {} is locked", pid_file.display())]
    ManagedElsewhere { pid_file: PathBuf },
    /// Something rrd cannot adopt answers on the vty socket.
    #[error("a bgpd that rrd did not start already answers on {}: stop it, or set engine.frr.manage_process = false to drive it", socket.display())]
    AlreadyRunning { socket: PathBuf },
    /// A managed bgpd runs already, and a restarting speaker was asked for.
    #[error("bgpd (pid {pid}) already runs: a running bgpd cannot become a graceful-restart restarting speaker")]
    RunningInsteadOfRestarting { pid: u32 },
    /// A bgpd rrd started neither answered nor worked (its CPU time did
    /// not grow) for `idle`, or it exited.
    #[error("bgpd did not answer on {}: {}", socket.display(), match exit {
        Some(e) => format!("it exited ({e}) after {waited:?}"),
        None => format!("waited {waited:?}, the last {idle:?} (engine.frr.connect_timeout) without bgpd using CPU; killed it"),
    })]
    StartTimeout {
        socket: PathBuf,
        waited: std::time::Duration,
        idle: std::time::Duration,
        exit: Option<String>,
    },
}

impl From<rrd_process::PidFileError> for FrrError {
    fn from(e: rrd_process::PidFileError) -> FrrError {
        match e {
            rrd_process::PidFileError::Locked { path } => {
                FrrError::ManagedElsewhere { pid_file: path }
            }
            rrd_process::PidFileError::Open { path, source } => FrrError::PidFile { path, source },
        }
    }
}

impl From<rrd_process::SpawnError> for FrrError {
    fn from(e: rrd_process::SpawnError) -> FrrError {
        match e {
            rrd_process::SpawnError::Spawn { program, source } => {
                FrrError::Spawn { program, source }
            }
            rrd_process::SpawnError::Track { pid, source } => FrrError::Track { pid, source },
        }
    }
}

impl FrrError {
    fn operation(&self) -> &'static str {
        match self {
            FrrError::Config(_) | FrrError::Render(_) | FrrError::Unsupported(_) => "validate",
            FrrError::Vty(_) => "talk to bgpd",
            FrrError::Refused { .. } | FrrError::Check { .. } | FrrError::RunCheck { .. } => {
                "apply"
            }
            FrrError::Diverged { .. } => "verify the apply",
            FrrError::Decode { .. } => "read bgpd's answer",
            FrrError::Write { .. } => "write a file",
            FrrError::Spawn { .. }
            | FrrError::Track { .. }
            | FrrError::PidFile { .. }
            | FrrError::ManagedElsewhere { .. }
            | FrrError::AlreadyRunning { .. }
            | FrrError::RunningInsteadOfRestarting { .. }
            | FrrError::StartTimeout { .. } => "start bgpd",
        }
    }
}

impl From<FrrError> for EngineError {
    fn from(e: FrrError) -> EngineError {
        match e {
            FrrError::Config(c) => EngineError::Unsupported {
                engine: ENGINE,
                reason: c.to_string(),
            },
            FrrError::Render(r) => EngineError::Unsupported {
                engine: ENGINE,
                reason: r.to_string(),
            },
            FrrError::Unsupported(reason) => EngineError::Unsupported {
                engine: ENGINE,
                reason,
            },
            e @ (FrrError::Refused { .. } | FrrError::Check { .. }) => EngineError::Rejected {
                engine: ENGINE,
                reason: e.to_string(),
            },
            FrrError::Vty(v) => EngineError::Unreachable {
                engine: ENGINE,
                endpoint: match &v {
                    VtyError::Connect { path, .. }
                    | VtyError::Timeout { path, .. }
                    | VtyError::Io { path, .. } => path.display().to_string(),
                },
                detail: v.to_string(),
            },
            e @ FrrError::StartTimeout { .. } => EngineError::Unreachable {
                engine: ENGINE,
                endpoint: match &e {
                    FrrError::StartTimeout { socket, .. } => socket.display().to_string(),
                    _ => String::new(),
                },
                detail: e.to_string(),
            },
            FrrError::ManagedElsewhere { pid_file } => EngineError::ManagedElsewhere {
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
}
