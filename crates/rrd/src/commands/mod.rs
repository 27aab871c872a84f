//! One module per subcommand.

#[cfg(feature = "source-etcd")]
mod admin;
mod check;
mod docs;
mod migrate;
mod render;
mod run;
mod status;

use std::process::ExitCode;

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

use crate::cli::{Cli, Command, OutputFormat};
use crate::config::{Config, LogConfig, LogFormat};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run => {
            let config = Config::load(cli.config.as_deref()).await?;
            let log = init_logging(&config.log);
            run::run(config, cli.config, log).await
        }
        Command::Render { output } => {
            render::render(Config::load(cli.config.as_deref()).await?, output).await
        }
        Command::Check { strict, output } => {
            check::check(cli.config.as_deref(), strict, output).await
        }
        Command::Status {
            url,
            socket,
            output,
            json,
        } => {
            let output = if json { OutputFormat::Json } else { output };
            status::status(cli.config.as_deref(), url, socket, output).await
        }
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        #[cfg(feature = "source-etcd")]
        Command::Rr(cmd) => admin::rr(cli.config.as_deref(), cmd).await,
        #[cfg(feature = "source-etcd")]
        Command::Peer(cmd) => admin::peer(cli.config.as_deref(), cmd).await,
        #[cfg(feature = "source-etcd")]
        Command::NodeMesh { state } => admin::node_mesh(cli.config.as_deref(), state).await,
        #[cfg(feature = "source-etcd")]
        Command::DefaultAs { asn } => admin::default_as(cli.config.as_deref(), asn).await,
        #[cfg(not(feature = "source-etcd"))]
        Command::Rr(_)
        | Command::Peer(_)
        | Command::NodeMesh { .. }
        | Command::DefaultAs { .. } => {
            anyhow::bail!("admin commands write to etcd: this build has no etcd source (cargo feature `source-etcd`)")
        }
        Command::Apply {
            allow_mass_removal,
            socket,
        } => status::apply(cli.config.as_deref(), socket, allow_mass_removal).await,
        Command::Migrate { to, deadline } => {
            let config = Config::load(cli.config.as_deref()).await?;
            init_logging(&config.log);
            migrate::migrate_command(config, to, deadline).await
        }
    }
}

/// Changes the log filter of a running rrd (SIGHUP reloads `log.level`).
pub type LogReload = reload::Handle<EnvFilter, Registry>;

/// `RUST_LOG` wins over `log.level`. Escape sequences only on a terminal.
fn init_logging(log: &LogConfig) -> LogReload {
    let filter = log_filter(log);
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    match log.format {
        LogFormat::Text => registry.with(fmt).init(),
        LogFormat::Json => registry.with(fmt.json()).init(),
    }
    handle
}

/// The filter `log` asks for (validated when the configuration loaded).
pub fn log_filter(log: &LogConfig) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level))
}
