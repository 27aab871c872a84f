//! What can go wrong inside the BIRD engine, one variant per failed
//! operation, and how each maps onto the engine contract's
//! [`EngineError`] (which the runtime uses to decide whether to retry).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use rrd_core::EngineError;

use crate::config::{BirdVersion, ConfigError};
use crate::render::RenderError;
use crate::socket::{ReplyClass, SocketError};
use rrd_process::{PidFileError, SpawnError};

const ENGINE: &str = "bird";

#[derive(Debug, thiserror::Error)]
pub enum BirdError {
    #[error("invalid engine configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("rendering the BIRD configuration: {0}")]
    Render(#[from] RenderError),
    #[error("reading {}: {source}", path.display())]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    WriteConfig {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// BIRD's parser refused a file (`configure check` or `bird -p`).
    #[error("BIRD refused {}: {message}", file.display())]
    Check { file: PathBuf, message: String },
    #[error("running {} -p -c {}: {source}", binary.display(), file.display())]
    RunCheck {
        binary: PathBuf,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("connecting to BIRD: {0}")]
    Connect(#[source] SocketError),
    #[error("{command:?} over the control socket: {source}")]
    Command {
        command: String,
        #[source]
        source: SocketError,
    },
    /// `configure` answered with something other than success; the
    /// previous file has been put back.
    #[error("configure {}: BIRD answered {code:04} {message}", file.display())]
    Configure {
        file: PathBuf,
        code: u16,
        message: String,
    },
    #[error("{} is {found:?}, but engine.bird.version is {expected:?}", socket.display())]
    Version {
        socket: PathBuf,
        expected: BirdVersion,
        found: String,
    },
    #[error("starting {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exited during start-up ({status}); its last output: {output}", binary.display())]
    StartExited {
        binary: PathBuf,
        status: String,
        output: String,
    },
    #[error("{} did not answer on {} within {timeout:?} of being started", binary.display(), socket.display())]
    StartTimeout {
        binary: PathBuf,
        socket: PathBuf,
        timeout: Duration,
    },
    /// Something answers on the socket that rrd cannot adopt.
    #[error("a BIRD daemon that rrd did not start already answers on {} ({detail}): stop it, or set engine.bird.manage_process = false to drive it", socket.display())]
    AlreadyRunning { socket: PathBuf, detail: String },
    /// A graceful-restart recovery start (`-R`) found BIRD running.
    #[error("BIRD already answers on {} (pid {pid}): a running BIRD cannot start in graceful-restart recovery (-R)", socket.display())]
    RunningInsteadOfRecovering { socket: PathBuf, pid: String },
    /// The daemon the PID file names runs this configuration but does not
    /// answer on the control socket: rrd starts no second BIRD beside it.
    #[error("BIRD pid {pid} (named by {}) runs this configuration but does not answer on {}: rrd will not start a second BIRD on the same files; restore the socket by restarting that BIRD (e.g. kill {pid}: rrd then starts it again)", pid_file.display(), socket.display())]
    Unreachable {
        pid: u32,
        pid_file: PathBuf,
        socket: PathBuf,
    },
    /// Another rrd holds the lock on the PID file: it supervises the daemon.
    #[error("another rrd already manages this BIRD: {} is locked", pid_file.display())]
    ManagedElsewhere { pid_file: PathBuf },
    #[error("PID file {}: {source}", path.display())]
    PidFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot track BIRD pid {pid} with a pidfd (Linux >= 5.3 needed): {source}")]
    Track {
        pid: u32,
        #[source]
        source: io::Error,
    },
    #[error("stopping {}: {detail}", binary.display())]
    Stop { binary: PathBuf, detail: String },
    #[error("{0}")]
    Unsupported(String),
}

impl BirdError {
    /// The operation, for `EngineError::Failed` and logs.
    pub fn operation(&self) -> &'static str {
        match self {
            BirdError::Config(_) => "validate configuration",
            BirdError::Render(_) => "render",
            BirdError::ReadConfig { .. } => "read config file",
            BirdError::WriteConfig { .. } => "write config file",
            BirdError::Check { .. } | BirdError::RunCheck { .. } => "check",
            BirdError::Connect(_) => "connect",
            BirdError::Command { .. } => "control socket command",
            BirdError::Configure { .. } => "configure",
            BirdError::Version { .. } => "version check",
            BirdError::Spawn { .. }
            | BirdError::StartExited { .. }
            | BirdError::StartTimeout { .. }
            | BirdError::AlreadyRunning { .. }
            | BirdError::RunningInsteadOfRecovering { .. }
            | BirdError::ManagedElsewhere { .. }
            | BirdError::Unreachable { .. }
            | BirdError::PidFile { .. }
            | BirdError::Track { .. } => "start",
            BirdError::Stop { .. } => "stop",
            BirdError::Unsupported(_) => "unsupported",
        }
    }

    fn socket_endpoint(e: &SocketError) -> String {
        match e {
            SocketError::Connect { socket, .. }
            | SocketError::Io { socket, .. }
            | SocketError::Closed { socket }
            | SocketError::Timeout { socket, .. }
            | SocketError::Greeting { socket, .. } => socket.display().to_string(),
            SocketError::Multiline(_) => String::new(),
        }
    }
}

impl From<PidFileError> for BirdError {
    fn from(e: PidFileError) -> BirdError {
        match e {
            PidFileError::Locked { path } => BirdError::ManagedElsewhere { pid_file: path },
            PidFileError::Open { path, source } => BirdError::PidFile { path, source },
        }
    }
}

impl From<SpawnError> for BirdError {
    fn from(e: SpawnError) -> BirdError {
        match e {
            SpawnError::Spawn { program, source } => BirdError::Spawn {
                binary: program.into(),
                source,
            },
            SpawnError::Track { pid, source } => BirdError::Track { pid, source },
        }
    }
}

impl From<BirdError> for EngineError {
    fn from(e: BirdError) -> EngineError {
        match e {
            BirdError::Render(r) => EngineError::Unsupported {
                engine: ENGINE,
                reason: r.to_string(),
            },
            BirdError::Config(c) => EngineError::Unsupported {
                engine: ENGINE,
                reason: c.to_string(),
            },
            BirdError::Unsupported(reason) => EngineError::Unsupported {
                engine: ENGINE,
                reason,
            },
            v @ BirdError::Version { .. } => EngineError::Unsupported {
                engine: ENGINE,
                reason: v.to_string(),
            },
            BirdError::Check { file, message } => EngineError::Rejected {
                engine: ENGINE,
                reason: format!("{}: {message}", file.display()),
            },
            BirdError::Configure {
                file,
                code,
                message,
            } if matches!(
                ReplyClass::of(code),
                ReplyClass::RuntimeError | ReplyClass::ParseError
            ) =>
            {
                EngineError::Rejected {
                    engine: ENGINE,
                    reason: format!("configure {}: {code:04} {message}", file.display()),
                }
            }
            BirdError::Connect(s) => EngineError::Unreachable {
                engine: ENGINE,
                endpoint: BirdError::socket_endpoint(&s),
                detail: s.to_string(),
            },
            BirdError::Command { command, source } => EngineError::Unreachable {
                engine: ENGINE,
                endpoint: BirdError::socket_endpoint(&source),
                detail: format!("{command:?}: {source}"),
            },
            BirdError::ManagedElsewhere { pid_file } => EngineError::ManagedElsewhere {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_and_configure_refusals_become_rejected() {
        let e: EngineError = BirdError::Check {
            file: "/etc/bird/.bird.conf.x".into(),
            message: "/etc/bird/.bird.conf.x:12:1 Only internal neighbor can be RR client".into(),
        }
        .into();
        assert!(matches!(e, EngineError::Rejected { .. }), "{e}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains(":12:1 Only internal"), "{e}");
        let e: EngineError = BirdError::Configure {
            file: "/etc/bird/bird.conf".into(),
            code: 8002,
            message: "bird.conf:3:14 syntax error".into(),
        }
        .into();
        assert!(matches!(e, EngineError::Rejected { .. }), "{e}");
        // `0006 Reconfiguration ignored, shutting down` is not a refusal.
        let e: EngineError = BirdError::Configure {
            file: "/etc/bird/bird.conf".into(),
            code: 6,
            message: "Reconfiguration ignored, shutting down".into(),
        }
        .into();
        assert!(
            matches!(
                e,
                EngineError::Failed {
                    operation: "configure",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn unreachable_sockets_are_retryable_and_bad_configs_are_not() {
        let e: EngineError = BirdError::Connect(SocketError::Closed {
            socket: "/run/bird/bird.ctl".into(),
        })
        .into();
        assert!(e.is_retryable());
        assert!(
            matches!(e, EngineError::Unreachable { ref endpoint, .. } if endpoint == "/run/bird/bird.ctl")
        );
        let e: EngineError = BirdError::Version {
            socket: "/run/bird/bird.ctl".into(),
            expected: BirdVersion::V1_6,
            found: "BIRD 2.0.12 ready.".into(),
        }
        .into();
        assert!(
            matches!(e, EngineError::Unsupported { .. }) && !e.is_retryable(),
            "{e}"
        );
    }
}
