//! The `rrd` binary: command line, configuration loading, and the wiring of
//! the one source and one engine the configuration names into the runtime.
//!
//! Only this crate sees every plugin ([`plugins`]); everything else is
//! reached through `rrd_core`'s traits.

mod cli;
mod commands;
mod http_client;
mod output;
mod table;

// Configuration loading and the plugin enums live in the library part of
// this crate (`lib.rs`); the commands reach them as `crate::config` and
// `crate::plugins`.
use rrd::{config, plugins};

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
