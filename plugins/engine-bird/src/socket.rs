//! BIRD's control-socket protocol, spoken directly (no `birdc`).
//!
//! Sits between the engine and the daemon: every check, `configure`,
//! `show` and `graceful restart` goes through [`BirdSocket`]. The protocol
//! (BIRD `nest/cli.c`, the same in 1.6 and 2.x): the daemon greets with
//! `0001 BIRD x.y.z ready.`; each command is one line; each reply is lines
//! `DDDD-text` (more follow), ` text` (continues the previous code) and a
//! final `DDDD text`. Lines starting with `+` are asynchronous messages and
//! are skipped. Codes: `0xxx` done, `1xxx` table rows, `2xxx` headings,
//! `8xxx` run-time errors, `9xxx` parse errors.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// How long one reply may take. BIRD is single-threaded: `configure` with
/// thousands of sessions takes seconds, during which it answers nothing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("cannot connect to BIRD's control socket {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading from or writing to {}: {source}", socket.display())]
    Io {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} closed the connection in the middle of a reply", socket.display())]
    Closed { socket: PathBuf },
    #[error("no complete reply to {command:?} from {} within {timeout:?}", socket.display())]
    Timeout {
        socket: PathBuf,
        command: String,
        timeout: Duration,
    },
    #[error("{} did not greet with 0001 but with {line:?}", socket.display())]
    Greeting { socket: PathBuf, line: String },
    #[error("command {0:?} spans several lines")]
    Multiline(String),
}

/// What a reply code says about the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyClass {
    /// `0xxx`: done.
    Ok,
    /// `1xxx` / `2xxx`: table rows and headings (not a final code in practice).
    Table,
    /// `8xxx`: run-time error (bad file, no such protocol, ...).
    RuntimeError,
    /// `9xxx`: the command did not parse.
    ParseError,
    /// Anything else.
    Unknown,
}

impl ReplyClass {
    pub fn of(code: u16) -> ReplyClass {
        match code {
            0..=999 => ReplyClass::Ok,
            1000..=2999 => ReplyClass::Table,
            8000..=8999 => ReplyClass::RuntimeError,
            9000..=9999 => ReplyClass::ParseError,
            _ => ReplyClass::Unknown,
        }
    }
}

/// One complete reply: every line with the code it belongs to (continuation
/// lines carry the code of the numbered line above them), and the final code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<(u16, String)>,
    pub code: u16,
}

impl Reply {
    pub fn class(&self) -> ReplyClass {
        ReplyClass::of(self.code)
    }

    pub fn is_error(&self) -> bool {
        matches!(
            self.class(),
            ReplyClass::RuntimeError | ReplyClass::ParseError
        )
    }

    /// The text of the final line (`Reconfigured`, `file:3:14 syntax error`).
    pub fn message(&self) -> &str {
        self.lines.last().map_or("", |(_, t)| t.as_str())
    }

    /// Every line with `code`, in order.
    pub fn texts(&self, code: u16) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(move |(c, _)| *c == code)
            .map(|(_, t)| t.as_str())
    }

    /// Parse one complete reply from captured text (a transcript, a test
    /// fixture); `None` when it has no final line.
    pub fn parse(text: &str) -> Option<Reply> {
        let mut lines: Vec<(u16, String)> = Vec::new();
        let mut current = 0;
        for raw in text.lines() {
            match classify(raw.trim_end_matches('\r')) {
                Line::Async => {}
                Line::Numbered { code, last, text } => {
                    lines.push((code, text));
                    if last {
                        return Some(Reply { lines, code });
                    }
                    current = code;
                }
                Line::Continuation(text) => lines.push((current, text)),
            }
        }
        None
    }

    /// `0003 Reconfigured` for logs.
    pub fn summary(&self) -> String {
        format!("{:04} {}", self.code, self.message())
    }
}

/// A line as BIRD sends it.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// `DDDD-text` (`last == false`) or `DDDD text` (`last == true`).
    Numbered { code: u16, last: bool, text: String },
    /// ` text`, or anything unrecognised: continues the previous code.
    Continuation(String),
    /// `+...`: asynchronous message.
    Async,
}

fn classify(raw: &str) -> Line {
    let b = raw.as_bytes();
    if b.first() == Some(&b'+') {
        return Line::Async;
    }
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && (b[4] == b'-' || b[4] == b' ') {
        // Four ASCII digits: the slice is valid UTF-8 and fits u16.
        let code = raw[..4].parse().unwrap_or(0);
        return Line::Numbered {
            code,
            last: b[4] == b' ',
            text: raw[5..].to_owned(),
        };
    }
    if b.len() == 4 && b.iter().all(u8::is_ascii_digit) {
        // `0000` with its trailing space trimmed by a proxy: still final.
        return Line::Numbered {
            code: raw.parse().unwrap_or(0),
            last: true,
            text: String::new(),
        };
    }
    Line::Continuation(raw.strip_prefix(' ').unwrap_or(raw).to_owned())
}

/// A connection to one BIRD daemon. Commands run one at a time.
#[derive(Debug)]
pub struct BirdSocket {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    greeting: String,
    timeout: Duration,
    /// The PID of the process serving the socket (`SO_PEERCRED`).
    peer_pid: Option<u32>,
}

impl BirdSocket {
    /// Connect and read the `0001` greeting.
    pub async fn connect(path: &Path) -> Result<BirdSocket, SocketError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| SocketError::Connect {
                socket: path.to_owned(),
                source,
            })?;
        let peer_pid = stream
            .peer_cred()
            .ok()
            .and_then(|c| c.pid())
            .and_then(|p| u32::try_from(p).ok());
        let (r, w) = stream.into_split();
        let mut s = BirdSocket {
            path: path.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            greeting: String::new(),
            timeout: REPLY_TIMEOUT,
            peer_pid,
        };
        let hello = s.read_reply("<greeting>").await?;
        if hello.code != 1 {
            return Err(SocketError::Greeting {
                socket: path.to_owned(),
                line: hello.summary(),
            });
        }
        s.greeting = hello.message().to_owned();
        Ok(s)
    }

    /// The greeting text: `BIRD 2.0.12 ready.`
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// `2.0.12` from the greeting.
    pub fn version(&self) -> Option<&str> {
        self.greeting
            .strip_prefix("BIRD ")
            .and_then(|r| r.split_whitespace().next())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PID of the process that serves the socket (the daemon, which
    /// created it), from the kernel's peer credentials.
    pub fn peer_pid(&self) -> Option<u32> {
        self.peer_pid
    }

    /// Change how long one reply may take (default [`REPLY_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Send one command (full keywords, no abbreviations) and read its reply.
    /// An `8xxx`/`9xxx` reply is a successful exchange: check
    /// [`Reply::is_error`].
    pub async fn command(&mut self, command: &str) -> Result<Reply, SocketError> {
        if command.contains(['\n', '\r']) {
            return Err(SocketError::Multiline(command.to_owned()));
        }
        let io_err = |source| SocketError::Io {
            socket: self.path.clone(),
            source,
        };
        let line = format!("{command}\n");
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(io_err)?;
        self.read_reply(command).await
    }

    async fn read_reply(&mut self, command: &str) -> Result<Reply, SocketError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.read_reply_untimed()).await {
            Ok(r) => r,
            Err(_) => Err(SocketError::Timeout {
                socket: self.path.clone(),
                command: command.to_owned(),
                timeout,
            }),
        }
    }

    async fn read_reply_untimed(&mut self) -> Result<Reply, SocketError> {
        let mut lines: Vec<(u16, String)> = Vec::new();
        let mut current: Option<u16> = None;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .await
                .map_err(|source| SocketError::Io {
                    socket: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(SocketError::Closed {
                    socket: self.path.clone(),
                });
            }
            let raw = String::from_utf8_lossy(&buf);
            let raw = raw.trim_end_matches(['\n', '\r']);
            match classify(raw) {
                Line::Async => continue,
                Line::Numbered { code, last, text } => {
                    lines.push((code, text));
                    if last {
                        return Ok(Reply { lines, code });
                    }
                    current = Some(code);
                }
                Line::Continuation(text) => {
                    // Before any numbered line there is nothing to continue;
                    // BIRD never does this, so keep the text under code 0.
                    lines.push((current.unwrap_or(0), text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
