//! One module per subcommand.

#[cfg(feature = "source-etcd")]
mod admin;
mod check;
mod migrate;
mod render;
mod run;
mod status;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::config::{Config, LogConfig, LogFormat};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(&config.log);
            run::run(config).await
        }
        Command::Render => render::render(Config::load(cli.config.as_deref())?).await,
        Command::Check { strict } => check::check(cli.config.as_deref(), strict).await,
        Command::Status { url, socket, json } => {
            status::status(cli.config.as_deref(), url, socket, json).await
        }
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
            let config = Config::load(cli.config.as_deref())?;
            init_logging(&config.log);
            migrate::migrate_command(config, to, deadline).await
        }
    }
}

fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
