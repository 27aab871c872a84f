//! The closed set of plugins, one enum per side. Each arm sits behind the
//! cargo feature of its plugin; the runtime stays generic over the traits.

use rrd_core::{
    ApplyReport, BgpEngine, EngineError, EngineInfo, EventSink, Observation, PeerSource, Plan,
    RrConfig, SourceError, SourceInfo, StartMode, StopMode, Topology,
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

/// The configured engine.
#[derive(Debug)]
pub enum AnyEngine {
    #[cfg(feature = "engine-bird")]
    Bird(Box<rrd_engine_bird::BirdEngine>),
    #[cfg(feature = "engine-gobgp")]
    Gobgp(Box<rrd_engine_gobgp::GobgpEngine>),
}

/// The error of an arm whose plugin this build left out (unused when every
/// plugin is built).
#[cfg_attr(
    all(
        feature = "source-file",
        feature = "source-etcd",
        feature = "source-consul",
        feature = "source-kubernetes",
        feature = "engine-bird",
        feature = "engine-gobgp"
    ),
    allow(dead_code)
)]
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
    match config.engine.kind {
        #[cfg(feature = "engine-bird")]
        EngineKind::Bird => {
            if let Err(e) = config.engine.bird.validate() {
                out.push((format!("engine.bird.{}", e.key), e.message));
            }
        }
        #[cfg(feature = "engine-gobgp")]
        EngineKind::Gobgp => {
            if let Err(message) = config.engine.gobgp.validate() {
                // The message starts with the key it is about.
                match message.split_once(": ") {
                    Some((key, reason)) => out.push((key.to_owned(), reason.to_owned())),
                    None => out.push(("engine.gobgp".into(), message)),
                }
            }
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    out
}

impl AnySource {
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
    pub fn from_config(config: &Config) -> anyhow::Result<AnyEngine> {
        match config.engine.kind {
            #[cfg(feature = "engine-bird")]
            EngineKind::Bird => {
                config.engine.bird.validate()?;
                let engine = rrd_engine_bird::BirdEngine::new(config.engine.bird.clone());
                Ok(AnyEngine::Bird(Box::new(engine)))
            }
            #[cfg(not(feature = "engine-bird"))]
            EngineKind::Bird => Err(not_built("the BIRD engine", "engine-bird")),
            #[cfg(feature = "engine-gobgp")]
            EngineKind::Gobgp => {
                config.engine.gobgp.validate().map_err(anyhow::Error::msg)?;
                let engine = rrd_engine_gobgp::GobgpEngine::new(config.engine.gobgp.clone());
                Ok(AnyEngine::Gobgp(Box::new(engine)))
            }
            #[cfg(not(feature = "engine-gobgp"))]
            EngineKind::Gobgp => Err(not_built("the GoBGP engine", "engine-gobgp")),
        }
    }

    /// What the daemon would be given, as text (`rrd render`).
    pub fn render(&self, config: &RrConfig) -> anyhow::Result<String> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => {
                let mut out = String::new();
                for (path, text) in e.render_files(config)? {
                    out += &format!("# ---- {} ----\n{text}", path.display());
                }
                Ok(out)
            }
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => Ok(e.render(config)?),
        }
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

impl BgpEngine for AnyEngine {
    fn info(&self) -> EngineInfo {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.info(),
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.info(),
        }
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.start(mode).await,
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.start(mode).await,
        }
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.held().await,
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.held().await,
        }
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.apply(desired, plan).await,
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.apply(desired, plan).await,
        }
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.observe().await,
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.observe().await,
        }
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        match self {
            #[cfg(feature = "engine-bird")]
            AnyEngine::Bird(e) => e.stop(mode).await,
            #[cfg(feature = "engine-gobgp")]
            AnyEngine::Gobgp(e) => e.stop(mode).await,
        }
    }
}
