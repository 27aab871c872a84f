//! A minimal HTTP/1.1 client for talking to a running rrd's own endpoints:
//! its admin socket (`rrd status`, `rrd apply`) or the read-only scrape
//! listener (`rrd status --url`). Local, one request per connection: no
//! need for a general-purpose client.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Where a running rrd answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The admin socket (`http.admin_socket`): status and `POST /apply`.
    Admin(PathBuf),
    /// The scrape listener (`http.listen`, `host:port`): read-only.
    Tcp(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Admin(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Tcp(authority) => write!(f, "http://{authority}"),
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    req: &str,
) -> std::io::Result<Vec<u8>> {
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(raw)
}

/// Send `method path` to `endpoint` and return the body of a 2xx response.
pub async fn request(method: &str, endpoint: &Endpoint, path: &str) -> anyhow::Result<String> {
    let host = match endpoint {
        Endpoint::Admin(_) => "localhost",
        Endpoint::Tcp(authority) => authority.as_str(),
    };
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    let raw = match endpoint {
        Endpoint::Admin(socket) => {
            let stream = UnixStream::connect(socket).await.with_context(|| {
                format!(
                    "cannot reach rrd's admin socket {} (is `rrd run` running? see http.admin_socket; it is open to root only, `--url` reads the status from http.listen)",
                    socket.display()
                )
            })?;
            exchange(stream, &req).await?
        }
        Endpoint::Tcp(authority) => {
            let stream = TcpStream::connect(authority.as_str()).await.with_context(|| {
                format!("cannot reach rrd at http://{authority} (is `rrd run` running? see http.listen)")
            })?;
            exchange(stream, &req).await?
        }
    };
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("malformed HTTP response from {endpoint}");
    };
    let status_line = head.lines().next().unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    if !(200..300).contains(&code) {
        bail!("{method} {endpoint}{path}: {status_line}: {}", body.trim());
    }
    Ok(body)
}

fn dechunk(mut body: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            bail!("truncated chunked body")
        };
        let size = usize::from_str_radix(size.trim(), 16).context("bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            bail!("truncated chunk");
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
}
