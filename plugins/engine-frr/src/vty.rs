//! bgpd's vty socket (`<socket_dir>/bgpd.vty`), spoken directly: what
//! `vtysh` does, without a process per command and with a status per
//! command.
//!
//! The protocol (FRR's `lib/vty.c`, vtysh side in `vtysh/vtysh.c`): the
//! client writes one command followed by a NUL byte; bgpd runs it and
//! answers with its output followed by three NUL bytes and one status byte
//! (0 = success; 1 warning; 2 unknown command; 13 configuration refused,
//! ...). Commands run one at a time per connection, in the CLI node the
//! previous command left (`configure terminal`, `router bgp ...`). A new
//! connection starts in the view node; [`Vty::connect`] sends `enable`.
//!
//! bgpd reads its socket in pieces of at most 512 bytes and runs every
//! complete command in a piece before it reads on, so a client may send
//! many commands at once and read their answers in order afterwards
//! ([`Vty::run_pipelined`]): bgpd then runs them back to back instead of
//! waiting a round trip through the scheduler for each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// FRR's `CMD_SUCCESS`.
pub const SUCCESS: u8 = 0;

/// What bgpd answered to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u8,
    pub text: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == SUCCESS
    }

    /// The text as one line, for errors.
    pub fn message(&self) -> String {
        let text = self.text.trim();
        if text.is_empty() {
            format!("status {}", self.status)
        } else {
            text.lines().map(str::trim).collect::<Vec<_>>().join(" ")
        }
    }
}

/// Why talking to bgpd failed.
#[derive(Debug, thiserror::Error)]
pub enum VtyError {
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: `{command}` got no answer within {after:?}", path.display())]
    Timeout {
        path: PathBuf,
        command: String,
        after: Duration,
    },
    #[error("{}: `{command}`: {source}", path.display())]
    Io {
        path: PathBuf,
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// One connection to bgpd's vty socket.
#[derive(Debug)]
pub struct Vty {
    stream: UnixStream,
    path: PathBuf,
    timeout: Duration,
}

impl Vty {
    /// Connect (within `timeout`) and enter the enable node.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Vty, VtyError> {
        let connect = UnixStream::connect(path);
        let stream = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(VtyError::Connect {
                    path: path.to_owned(),
                    source,
                })
            }
            Err(_) => {
                return Err(VtyError::Connect {
                    path: path.to_owned(),
                    source: std::io::ErrorKind::TimedOut.into(),
                })
            }
        };
        let mut vty = Vty {
            stream,
            path: path.to_owned(),
            timeout,
        };
        vty.run("enable").await?;
        Ok(vty)
    }

    /// Use `timeout` for every later command.
    pub fn with_timeout(mut self, timeout: Duration) -> Vty {
        self.timeout = timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run one command and read its whole answer.
    pub async fn run(&mut self, command: &str) -> Result<Reply, VtyError> {
        let mut replies = self.run_pipelined(std::slice::from_ref(&command)).await?;
        Ok(replies.pop().expect("one reply per command"))
    }

    /// Run `commands` in order, sent together without waiting for each
    /// answer (bgpd reads them as they come and runs each complete one),
    /// and read one answer per command. Every command runs, whatever the
    /// answers: the caller decides what a refusal means for the rest.
    pub async fn run_pipelined<S: AsRef<str>>(
        &mut self,
        commands: &[S],
    ) -> Result<Vec<Reply>, VtyError> {
        let named = |commands: &[S]| match commands {
            [one] => one.as_ref().to_owned(),
            [first, ..] => format!("{} (and {} more)", first.as_ref(), commands.len() - 1),
            [] => String::new(),
        };
        let exchange = async {
            let mut msg = Vec::new();
            for c in commands {
                msg.extend_from_slice(c.as_ref().as_bytes());
                msg.push(0);
            }
            self.stream.write_all(&msg).await?;
            let mut replies = Vec::with_capacity(commands.len());
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 64 * 1024];
            // Where the answer being read starts, and how far it was
            // searched for its terminator.
            let (mut start, mut searched) = (0, 0);
            while replies.len() < commands.len() {
                let n = self.stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                }
                buf.extend_from_slice(&chunk[..n]);
                // Output never holds NUL bytes: the first one starts the
                // terminator, three of them and a status byte.
                while let Some(at) = buf[searched..].iter().position(|b| *b == 0) {
                    let end = searched + at;
                    if buf.len() < end + 4 {
                        searched = end;
                        break;
                    }
                    replies.push(Reply {
                        status: buf[end + 3],
                        text: String::from_utf8_lossy(&buf[start..end]).into_owned(),
                    });
                    (start, searched) = (end + 4, end + 4);
                }
                if start == buf.len() {
                    buf.clear();
                    (start, searched) = (0, 0);
                }
            }
            Ok(replies)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(replies)) => Ok(replies),
            Ok(Err(source)) => Err(VtyError::Io {
                path: self.path.clone(),
                command: named(commands),
                source,
            }),
            Err(_) => Err(VtyError::Timeout {
                path: self.path.clone(),
                command: named(commands),
                after: self.timeout,
            }),
        }
    }
}

/// bgpd's side of the protocol, for stand-ins of bgpd in tests.
#[cfg(test)]
pub(crate) mod fake {
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;

    /// The next command the client sent (up to its NUL byte); `None` once
    /// it hung up.
    pub async fn next_command(stream: &mut UnixStream) -> Option<String> {
        let mut command = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            stream.read_exact(&mut byte).await.ok()?;
            if byte[0] == 0 {
                return Some(String::from_utf8(command).expect("a command is text"));
            }
            command.push(byte[0]);
        }
    }

    /// The end of an answer: three NUL bytes and the status.
    pub fn terminator(status: u8) -> [u8; 4] {
        [0, 0, 0, status]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A stand-in for bgpd that answers every command with its text
    /// upper-cased, in two writes, and status 13 for `bad`.
    async fn fake_bgpd(path: PathBuf) {
        let listener = UnixListener::bind(&path).unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        while let Some(cmd) = fake::next_command(&mut s).await {
            let status = if cmd == "bad" { 13 } else { 0 };
            let out = if cmd == "enable" {
                String::new()
            } else {
                cmd.to_uppercase()
            };
            let (a, b) = out.as_bytes().split_at(out.len() / 2);
            s.write_all(a).await.unwrap();
            s.write_all(b).await.unwrap();
            s.write_all(&fake::terminator(status)).await.unwrap();
        }
    }

    /// A [`fake_bgpd`] in `dir`, and a vty connected to it.
    async fn connected_to_fake_bgpd(dir: &Path) -> (Vty, tokio::task::JoinHandle<()>) {
        let path = dir.join("bgpd.vty");
        let server = tokio::spawn(fake_bgpd(path.clone()));
        loop {
            match Vty::connect(&path, Duration::from_secs(5)).await {
                Ok(v) => return (v, server),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    #[tokio::test]
    async fn commands_are_nul_terminated_and_answers_end_with_a_status() {
        let dir = tempfile::tempdir().unwrap();
        let (mut vty, server) = connected_to_fake_bgpd(dir.path()).await;
        let r = vty.run("show bgp summary json").await.unwrap();
        assert_eq!(r.text, "SHOW BGP SUMMARY JSON");
        assert!(r.ok());
        let r = vty.run("bad").await.unwrap();
        assert_eq!(r.status, 13);
        assert_eq!(r.message(), "BAD");
        drop(vty);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn pipelined_commands_get_their_answers_in_order_refusals_included() {
        let dir = tempfile::tempdir().unwrap();
        let (mut vty, server) = connected_to_fake_bgpd(dir.path()).await;
        // Empty answers (status 0 right after the terminator's NULs) and
        // answers split across reads alike.
        let commands = ["neighbor a", "", "bad", "neighbor b", ""];
        let replies = vty.run_pipelined(&commands).await.unwrap();
        let got: Vec<_> = replies
            .iter()
            .map(|r| (r.text.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            [
                ("NEIGHBOR A", 0),
                ("", 0),
                ("BAD", 13),
                ("NEIGHBOR B", 0),
                ("", 0)
            ]
        );
        // The connection is in step afterwards.
        assert_eq!(vty.run("x").await.unwrap().text, "X");
        drop(vty);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error_naming_it() {
        let err = Vty::connect(Path::new("/nonexistent/bgpd.vty"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, VtyError::Connect { .. }));
        assert!(err.to_string().contains("/nonexistent/bgpd.vty"), "{err}");
    }
}
