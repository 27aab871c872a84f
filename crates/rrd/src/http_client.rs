//! A minimal HTTP/1.1 client for talking to a running rrd's own endpoint
//! (`rrd status`, `rrd apply`). Loopback, one request per connection: no
//! need for a general-purpose client.

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Send `method path` to `authority` (`host:port`) and return the body of a
/// 2xx response.
pub async fn request(method: &str, authority: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(authority).await.with_context(|| {
        format!("cannot reach rrd at http://{authority} (is `rrd run` running? see http.listen)")
    })?;
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("malformed HTTP response from {authority}");
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
        bail!(
            "{method} http://{authority}{path}: {status_line}: {}",
            body.trim()
        );
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
