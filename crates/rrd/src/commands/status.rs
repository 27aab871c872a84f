//! `rrd status` and `rrd apply`: talk to a running rrd over its HTTP
//! endpoint.

use std::path::Path;
use std::process::ExitCode;

use rrd_runtime::Status;

use crate::cli::OutputFormat;
use crate::config::{Config, HttpConfig};
use crate::http_client::request;
use crate::output;
use crate::table;

async fn authority(config: Option<&Path>, url: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = url {
        return Ok(url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned());
    }
    let listen = match config {
        Some(_) => Config::load(config).await?.http.listen,
        None if Path::new(crate::config::DEFAULT_PATH).exists() => {
            Config::load(None).await?.http.listen
        }
        None => HttpConfig::default().listen,
    };
    Ok(listen.to_string())
}

/// Exit status 3: rrd answers but is not ready (documented in `--help`).
const NOT_READY: u8 = 3;

pub async fn status(
    config: Option<&Path>,
    url: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let authority = authority(config, url).await?;
    let body = request("GET", &authority, "/status").await?;
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
    url: Option<String>,
    allow_mass_removal: bool,
) -> anyhow::Result<ExitCode> {
    let authority = authority(config, url).await?;
    let path = if allow_mass_removal {
        "/apply?allow_mass_removal=true"
    } else {
        "/apply"
    };
    let body = request("POST", &authority, path).await?;
    output::print(&body)?;
    Ok(ExitCode::SUCCESS)
}
