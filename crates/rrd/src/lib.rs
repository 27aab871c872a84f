//! The part of the `rrd` binary other crates may call: the configuration
//! file ([`config`]) and the closed set of plugins it names ([`plugins`]).
//!
//! The binary (`main.rs`: command line, commands) uses these modules as its
//! own; they are a library so that the fuzz targets (`fuzz/`) can drive
//! [`config::Config::parse`] exactly as `rrd check` and `rrd run` do.

pub mod config;
#[cfg(all(feature = "source-etcd", feature = "engine-bird"))]
mod dropin;
#[cfg(not(all(feature = "source-etcd", feature = "engine-bird")))]
mod dropin {
    pub async fn config_from_env(
        _: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<crate::config::Config> {
        anyhow::bail!("drop-in mode needs the source-etcd and engine-bird features")
    }
}
pub mod plugins;
