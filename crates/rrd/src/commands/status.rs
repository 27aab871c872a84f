//! `rrd status` and `rrd apply`: talk to a running rrd over its HTTP
//! endpoint.

use std::path::Path;
use std::process::ExitCode;

use rrd_runtime::Status;

use crate::config::{Config, HttpConfig};
use crate::http_client::request;
use crate::table;

fn authority(config: Option<&Path>, url: Option<String>) -> anyhow::Result<String> {
    if let Some(url) = url {
        return Ok(url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned());
    }
    let listen = match config {
        Some(_) => Config::load(config)?.http.listen,
        None if Path::new(crate::config::DEFAULT_PATH).exists() => Config::load(None)?.http.listen,
        None => HttpConfig::default().listen,
    };
    Ok(listen.to_string())
}

pub async fn status(
    config: Option<&Path>,
    url: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let authority = authority(config, url)?;
    let body = request("GET", &authority, "/status").await?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let status: Status = serde_json::from_str(&body)?;
    print!("{}", table::render(&status));
    Ok(if status.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

pub async fn apply(
    config: Option<&Path>,
    url: Option<String>,
    allow_mass_removal: bool,
) -> anyhow::Result<ExitCode> {
    let authority = authority(config, url)?;
    let path = if allow_mass_removal {
        "/apply?allow_mass_removal=true"
    } else {
        "/apply"
    };
    let body = request("POST", &authority, path).await?;
    print!("{body}");
    Ok(ExitCode::SUCCESS)
}
