//! The `rrd` binary: command line, configuration loading, and the wiring of
//! the one source and one engine the configuration names into the runtime.
//!
//! Only this crate sees every plugin ([`plugins`]); everything else is
//! reached through `rrd_core`'s traits.

mod cli;
mod commands;
mod config;
#[cfg(all(feature = "source-etcd", feature = "engine-bird"))]
mod dropin;
#[cfg(not(all(feature = "source-etcd", feature = "engine-bird")))]
mod dropin {
    pub fn config_from_env(
        _: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<crate::config::Config> {
        anyhow::bail!("drop-in mode needs the source-etcd and engine-bird features")
    }
}
mod http_client;
mod output;
mod plugins;
mod table;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rrd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        // `rrd check | head -1`: the reader has what it wanted.
        Err(e) if output::is_closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rrd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
