//! The closed set of plugins, one enum per side. Each arm sits behind the
//! cargo feature of its plugin; the runtime stays generic over the traits.

use rrd_core::{
    ApplyReport, BgpEngine, DaemonProcess, EngineError, EngineInfo, EventSink, MigrationRole,
    Observation, PeerSource, Plan, RrConfig, SourceError, SourceInfo, StartMode, StopMode,
    Topology,
};

use crate::config::{Config, EngineKind, SourceKind};

/// The configured source.
#[derive(Debug)]
pub enum AnySource {
    #[cfg(feature = "source-file")]
    File(rrd_source_file::FileSource),
    #[cfg(feature = "source-etcd")]
    Etcd(Box<rrd_source_etcd::EtcdSource>),
    #[cfg(feature = "source-consul")]
    Consul(Box<rrd_source_consul::ConsulSource>),
    #[cfg(feature = "source-kubernetes")]
    Kubernetes(Box<rrd_source_kubernetes::KubernetesSource>),
}

/// The error of an arm whose plugin this build left out (unused when every
/// plugin is built).
#[allow(dead_code)]
fn not_built(what: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!("{what} is not part of this build (cargo feature `{feature}`)")
}

/// What is wrong with the tables of the configured source and engine, as
/// `(key, message)` pairs: checked when the configuration loads, so that
/// `rrd check` refuses exactly what `rrd run` would.
pub fn config_problems(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut table = |section: &str, field: &str, reason: String| {
        out.push((format!("{section}.{field}"), reason));
    };
    match config.source.kind {
        #[cfg(feature = "source-file")]
        SourceKind::File if config.source.file.is_none() => table(
            "source",
            "file",
            "source.kind = \"file\" needs a [source.file] table with `path`".into(),
        ),
        #[cfg(feature = "source-etcd")]
        SourceKind::Etcd => {
            if let Err(rrd_source_etcd::EtcdError::Config { field, reason }) =
                config.source.etcd.clone().unwrap_or_default().validate()
            {
                table("source.etcd", field, reason);
            }
        }
        #[cfg(feature = "source-consul")]
        SourceKind::Consul => {
            if let Err(rrd_source_consul::ConsulError::Config { field, reason }) =
                config.source.consul.clone().unwrap_or_default().validate()
            {
                table("source.consul", field, reason);
            }
        }
        #[cfg(feature = "source-kubernetes")]
        SourceKind::Kubernetes => {
            if let Err(rrd_source_kubernetes::KubeError::Config { field, reason }) = config
                .source
                .kubernetes
                .clone()
                .unwrap_or_default()
                .validate()
            {
                table("source.kubernetes", field, reason);
            }
        }
        _ => {}
    }
    // Building the engine checks its table; the message starts with the
    // key it is about (`engine.gobgp.api: ...`).
    if let Err(e) = AnyEngine::of_kind(config, config.engine.kind) {
        let message = format!("{e:#}");
        match message.split_once(": ") {
            Some((key, reason)) if key.starts_with("engine.") => {
                out.push((key.to_owned(), reason.to_owned()))
            }
            _ => out.push(("engine".into(), message)),
        }
    }
    out
}

/// The engines, one line each: `Variant "cargo-feature" table Type;`.
/// Generates [`AnyEngine`], its construction from the configuration and
/// its [`BgpEngine`] implementation, which hands every call to the engine
/// of the arm. The variant is also the [`EngineKind`] (`engine.kind`,
/// `rrd migrate --to`); `table` is the field of `[engine]` that configures
/// it (a type with `validate()`; the engine has `new(table)`).
macro_rules! engines {
    ($($variant:ident $feature:literal $table:ident $engine:ty;)*) => {
        /// The configured engine.
        #[derive(Debug)]
        pub enum AnyEngine {
            $(#[cfg(feature = $feature)] $variant(Box<$engine>),)*
        }

        impl AnyEngine {
            /// The engine of `kind`, configured from its `[engine.<kind>]`
            /// table (checked first).
            pub fn of_kind(config: &Config, kind: EngineKind) -> anyhow::Result<AnyEngine> {
                match kind {
                    $(
                        #[cfg(feature = $feature)]
                        EngineKind::$variant => {
                            let table = &config.engine.$table;
                            table.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                            Ok(AnyEngine::$variant(Box::new(<$engine>::new(table.clone()))))
                        }
                        #[cfg(not(feature = $feature))]
                        EngineKind::$variant => Err(not_built(
                            concat!("the engine `", stringify!($table), "`"),
                            $feature,
                        )),
                    )*
                }
            }
        }

        /// Each call goes to the engine of the arm.
        macro_rules! each_engine {
            ($on:expr, $e:ident => $call:expr) => {
                match $on { $(#[cfg(feature = $feature)] AnyEngine::$variant($e) => $call,)* }
            };
        }
    };
}

engines! {
    Bird "engine-bird" bird rrd_engine_bird::BirdEngine;
    Gobgp "engine-gobgp" gobgp rrd_engine_gobgp::GobgpEngine;
    Frr "engine-frr" frr rrd_engine_frr::FrrEngine;
}

impl BgpEngine for AnyEngine {
    fn info(&self) -> EngineInfo {
        each_engine!(self, e => e.info())
    }

    fn render(&self, desired: &RrConfig) -> Result<String, EngineError> {
        each_engine!(self, e => e.render(desired))
    }

    fn running_daemons(&self) -> Vec<DaemonProcess> {
        each_engine!(self, e => e.running_daemons())
    }

    async fn prepare_migration(&mut self, role: MigrationRole) -> Result<Vec<String>, EngineError> {
        each_engine!(self, e => e.prepare_migration(role).await)
    }

    fn carry_over(&mut self, source: &Observation, desired: &RrConfig) -> Result<(), EngineError> {
        each_engine!(self, e => e.carry_over(source, desired))
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        each_engine!(self, e => e.start(mode).await)
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        each_engine!(self, e => e.held().await)
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        each_engine!(self, e => e.apply(desired, plan).await)
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        each_engine!(self, e => e.observe().await)
    }

    async fn observe_states(&mut self) -> Result<Observation, EngineError> {
        each_engine!(self, e => e.observe_states().await)
    }

    fn looks_may_give_way(&self) -> bool {
        each_engine!(self, e => e.looks_may_give_way())
    }

    fn daemon_restarts(&self) -> u64 {
        each_engine!(self, e => e.daemon_restarts())
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        each_engine!(self, e => e.stop(mode).await)
    }
}

impl AnySource {
    /// The source `rrd run` reads: [`AnySource::from_config`], keeping only
    /// what this RR (`identity`) needs where the source can tell (etcd with
    /// calico-v1 keys); its configuration is the same as from the whole
    /// fabric.
    pub fn for_this_rr(config: &Config) -> anyhow::Result<AnySource> {
        let source = AnySource::from_config(config)?;
        Ok(match source {
            #[cfg(feature = "source-etcd")]
            AnySource::Etcd(etcd) => {
                let id = &config.identity;
                let own = [
                    id.ipv4.map(std::net::IpAddr::V4),
                    id.ipv6.map(std::net::IpAddr::V6),
                ];
                AnySource::Etcd(Box::new(etcd.scoped_to(own.into_iter().flatten())))
            }
            other => other,
        })
    }

    pub fn from_config(config: &Config) -> anyhow::Result<AnySource> {
        match config.source.kind {
            #[cfg(feature = "source-file")]
            SourceKind::File => {
                let Some(file) = &config.source.file else {
                    anyhow::bail!("source.kind = \"file\" needs a [source.file] table with `path`");
                };
                Ok(AnySource::File(rrd_source_file::FileSource::new(
                    file.clone(),
                )))
            }
            #[cfg(not(feature = "source-file"))]
            SourceKind::File => Err(not_built("the file source", "source-file")),
            #[cfg(feature = "source-etcd")]
            SourceKind::Etcd => {
                let etcd = config.source.etcd.clone().unwrap_or_default();
                etcd.validate()?;
                Ok(AnySource::Etcd(Box::new(rrd_source_etcd::EtcdSource::new(
                    etcd,
                )?)))
            }
            #[cfg(not(feature = "source-etcd"))]
            SourceKind::Etcd => Err(not_built("the etcd source", "source-etcd")),
            #[cfg(feature = "source-kubernetes")]
            SourceKind::Kubernetes => {
                let kubernetes = config.source.kubernetes.clone().unwrap_or_default();
                Ok(AnySource::Kubernetes(Box::new(
                    rrd_source_kubernetes::KubernetesSource::new(kubernetes)?,
                )))
            }
            #[cfg(not(feature = "source-kubernetes"))]
            SourceKind::Kubernetes => Err(not_built("the Kubernetes source", "source-kubernetes")),
            #[cfg(feature = "source-consul")]
            SourceKind::Consul => {
                let consul = config.source.consul.clone().unwrap_or_default();
                Ok(AnySource::Consul(Box::new(
                    rrd_source_consul::ConsulSource::new(consul)?,
                )))
            }
            #[cfg(not(feature = "source-consul"))]
            SourceKind::Consul => Err(not_built("the Consul source", "source-consul")),
        }
    }
}

impl AnyEngine {
    /// The engine `engine.kind` names.
    pub fn from_config(config: &Config) -> anyhow::Result<AnyEngine> {
        AnyEngine::of_kind(config, config.engine.kind)
    }
}

impl PeerSource for AnySource {
    fn info(&self) -> SourceInfo {
        match self {
            #[cfg(feature = "source-file")]
            AnySource::File(s) => s.info(),
            #[cfg(feature = "source-etcd")]
            AnySource::Etcd(s) => s.info(),
            #[cfg(feature = "source-consul")]
            AnySource::Consul(s) => s.info(),
            #[cfg(feature = "source-kubernetes")]
            AnySource::Kubernetes(s) => s.info(),
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        match self {
            #[cfg(feature = "source-file")]
            AnySource::File(s) => s.snapshot().await,
            #[cfg(feature = "source-etcd")]
            AnySource::Etcd(s) => s.snapshot().await,
            #[cfg(feature = "source-consul")]
            AnySource::Consul(s) => s.snapshot().await,
            #[cfg(feature = "source-kubernetes")]
            AnySource::Kubernetes(s) => s.snapshot().await,
        }
    }

    async fn watch(self, sink: EventSink) {
        match self {
            #[cfg(feature = "source-file")]
            AnySource::File(s) => s.watch(sink).await,
            #[cfg(feature = "source-etcd")]
            AnySource::Etcd(s) => (*s).watch(sink).await,
            #[cfg(feature = "source-consul")]
            AnySource::Consul(s) => (*s).watch(sink).await,
            #[cfg(feature = "source-kubernetes")]
            AnySource::Kubernetes(s) => (*s).watch(sink).await,
        }
    }
}
