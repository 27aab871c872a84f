//! `rrd status` and `rrd apply`: talk to a running rrd over its admin
//! socket (`http.admin_socket`), or read the status from the read-only
//! scrape listener with `--url`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rrd_runtime::Status;

use crate::cli::OutputFormat;
use crate::config::{Config, HttpConfig};
use crate::http_client::{request, Endpoint};
use crate::output;
use crate::table;

/// The `[http]` section of the configuration in force: the file given, the
/// default file, drop-in variables, or the defaults when there is none.
async fn http_config(config: Option<&Path>) -> anyhow::Result<HttpConfig> {
    match Config::load(config).await {
        Ok(c) => Ok(c.http),
        Err(_) if config.is_none() && !Path::new(crate::config::DEFAULT_PATH).exists() => {
            Ok(HttpConfig::default())
        }
        Err(e) => Err(e),
    }
}

/// `--url` (read-only scrape listener), else `--socket`, else the
/// configuration's admin socket.
async fn endpoint(
    config: Option<&Path>,
    url: Option<String>,
    socket: Option<PathBuf>,
) -> anyhow::Result<Endpoint> {
    if let Some(url) = url {
        return Ok(Endpoint::Tcp(
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
        ));
    }
    if let Some(socket) = socket {
        return Ok(Endpoint::Admin(socket));
    }
    Ok(Endpoint::Admin(http_config(config).await?.admin_socket))
}

/// Exit status 3: rrd answers but is not ready (documented in `--help`).
const NOT_READY: u8 = 3;

pub async fn status(
    config: Option<&Path>,
    url: Option<String>,
    socket: Option<PathBuf>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let endpoint = endpoint(config, url, socket).await?;
    let body = request("GET", &endpoint, "/status").await?;
    let status: Status = serde_json::from_str(&body)?;
    output::emit(format, &status, || table::render(&status))?;
    Ok(if status.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_READY)
    })
}

pub async fn apply(
    config: Option<&Path>,
    socket: Option<PathBuf>,
    allow_mass_removal: bool,
) -> anyhow::Result<ExitCode> {
    let endpoint = endpoint(config, None, socket).await?;
    let path = if allow_mass_removal {
        "/apply?allow_mass_removal=true"
    } else {
        "/apply"
    };
    let body = request("POST", &endpoint, path).await?;
    output::print(&body)?;
    Ok(ExitCode::SUCCESS)
}
