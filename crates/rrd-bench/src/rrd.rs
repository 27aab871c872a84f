//! rrd as the benchmark runs it: `rrd run` (release build) in the RR's
//! namespace, reading the fabric from etcd (v3 API) and driving the daemon;
//! its memory read from `/proc`, its counters from `/status`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use rrd_lab::{Host, Lab, Process};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fabric::{Fabric, Layout};

/// The isolated changes remove 100 sessions one by one within minutes (of
/// 119 at 1,000 nodes): with its default 10-minute window the mass-removal
/// guard would rightly add them up and hold the 61st. Each change is judged
/// alone here (one session, under the guard's `min_sessions`).
const RUNTIME: &str = "[runtime.mass_removal]\nwindow = \"0s\"\n";

/// rrd's HTTP endpoint inside the namespace.
const HTTP: &str = "127.0.0.1:9180";

/// The rrd binary: `--rrd PATH`, or the release build next to this
/// benchmark, built first when cargo runs the benchmark.
pub fn binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let me = std::env::current_exe()?;
    let dir = me.parent().context("benchmark directory")?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        eprintln!("building rrd (release) ...");
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "rrd", "--bin", "rrd"])
            .status()?;
        if !status.success() {
            bail!("cargo build --release -p rrd failed");
        }
    }
    let rrd = dir.join("rrd");
    if !rrd.exists() {
        bail!(
            "{} is missing: `cargo build --release -p rrd`, or pass --rrd",
            rrd.display()
        );
    }
    Ok(rrd)
}

/// Memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

pub fn memory(pid: u32) -> Memory {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// CPU seconds (user + system) a process has used so far
/// ([`rrd_process::cpu_time`]): a count a busy machine does not inflate
/// much, unlike wall time. 0 when the process is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    rrd_process::cpu_time(pid).map_or(0.0, |t| t.as_secs_f64())
}

/// A running `rrd run`.
#[derive(Debug)]
pub struct Rrd {
    pub process: Process,
}

/// What one `rrd run` of the bench is given.
pub struct RrdSetup<'a> {
    pub binary: &'a Path,
    pub etcd_url: &'a str,
    pub layout: Layout,
    /// The `[engine]` section.
    pub engine_config: &'a str,
    /// `log.level`: a level or `target=level` directives.
    pub log_level: &'a str,
    /// `source.etcd.page_size`; rrd's default when `None`.
    pub etcd_page_size: Option<u32>,
    /// `runtime.observe_interval`; rrd's default when `None`.
    pub observe_interval: Option<&'a str>,
}

impl Rrd {
    /// Write rrd's configuration and start it.
    pub fn start(lab: &Lab, host: &Host, setup: &RrdSetup, tag: &str) -> anyhow::Result<Rrd> {
        let config = lab.path(&format!("{tag}-rrd.toml"));
        let text = format!(
            "[identity]\nipv4 = \"{me}\"\n\n[source]\nkind = \"etcd\"\n[source.etcd]\napi = \"v3\"\n\
             endpoints = [\"{etcd_url}\"]\nlayout = \"{layout}\"\n{page_size}\n{engine}\n{observe}{RUNTIME}\n[http]\nlisten = \"{HTTP}\"\nadmin_socket = \"{admin}\"\n\n\
             [log]\nlevel = \"{level}\"\n",
            me = Fabric::me(),
            etcd_url = setup.etcd_url,
            // Its own admin socket: another rrd on this machine (a second
            // benchmark) may hold the default /run/rrd/rrd.sock.
            admin = lab.path(&format!("{tag}-rrd.sock")).display(),
            layout = setup.layout.label(),
            engine = setup.engine_config,
            level = setup.log_level,
            page_size = setup
                .etcd_page_size
                .map_or_else(String::new, |n| format!("page_size = {n}\n")),
            observe = setup.observe_interval.map_or_else(String::new, |i| {
                format!("[runtime]\nobserve_interval = \"{i}\"\n\n")
            }),
        );
        std::fs::write(&config, text)?;
        let process = host.spawn(
            "rrd",
            setup.binary,
            &["run", "--config", config.to_str().context("path")?],
            lab.path(&format!("{tag}-rrd.log")),
        );
        Ok(Rrd { process })
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.process.pid().context("rrd is not running")
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        Ok(memory(self.pid()?))
    }

    /// rrd's `/status` as JSON.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let mut stream = tokio::net::TcpStream::connect(HTTP).await?;
        stream
            .write_all(b"GET /status HTTP/1.0\r\nHost: rrd\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok(serde_json::from_str(body)?)
    }

    /// Applies that changed the daemon, as rrd counts them.
    pub async fn applies(&self) -> anyhow::Result<u64> {
        let s = self.status().await?;
        Ok(s["applies"]["changed"].as_u64().unwrap_or(0))
    }

    /// Stop rrd (SIGTERM); the daemon keeps running.
    pub fn stop(mut self) -> Memory {
        let m = self.process.pid().map(memory).unwrap_or_default();
        tokio::task::block_in_place(|| self.process.stop());
        m
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        rrd_lab::route_reflector::tail(&self.process.log_text(), lines)
    }
}

#[cfg(test)]
mod tests {
    use super::cpu_seconds;

    #[test]
    fn cpu_seconds_reads_this_process_and_gives_zero_for_a_gone_one() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_seconds(std::process::id()) > 0.0);
        assert_eq!(cpu_seconds(u32::MAX), 0.0);
    }
}
