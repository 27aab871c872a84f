//! [`FileSource`]: reads the topology file, then polls it for changes.
//!
//! Polling (not inotify) on purpose: it sees atomic renames, edits through
//! symlinks (Kubernetes ConfigMaps) and network file systems alike, and the
//! cost is one `stat` per interval. Content, not mtime, decides whether
//! anything changed.

use std::path::PathBuf;
use std::time::Duration;

use rrd_core::{
    bounded_echo, EventSink, PeerSource, SourceError, SourceEvent, SourceInfo, SourceStatus,
    Topology,
};
use serde::Deserialize;
use tracing::{debug, info, warn};

use rrd_layouts::limits;

use crate::format::parse;

/// `[source]` settings when `kind = "file"`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The topology file (TOML, or YAML by extension `.yaml`/`.yml`).
    pub path: PathBuf,
    /// How often the file is checked for changes.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// What the file holds: `canonical` (rrd's own format, default) or
    /// `calico-v3` (Calico v3 resources as `calicoctl get -o yaml` prints
    /// them: BGPConfiguration, BGPPeer, Node; multi-document or List).
    #[serde(default)]
    pub layout: FileLayout,
}

/// The format of the topology file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileLayout {
    #[default]
    Canonical,
    CalicoV3,
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(500)
}

impl FileConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileConfig {
            path: path.into(),
            poll_interval: default_poll_interval(),
            layout: FileLayout::Canonical,
        }
    }
}

/// A topology file as a [`PeerSource`].
#[derive(Debug)]
pub struct FileSource {
    config: FileConfig,
}

impl FileSource {
    pub fn new(config: FileConfig) -> Self {
        FileSource { config }
    }

    fn location(&self) -> String {
        self.config.path.display().to_string()
    }

    /// Decode `text` off the async threads (a large file must not stall
    /// the loop or `/healthz`).
    async fn decode(&self, text: String) -> Result<(Topology, Vec<String>), String> {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || decode(&config, &text))
            .await
            .unwrap_or_else(|e| Err(format!("decoding stopped: {e}")))
    }

    async fn read_text(&self) -> Result<String, SourceError> {
        let unreadable = |e: std::io::Error| SourceError::Unreachable {
            location: self.location(),
            detail: e.to_string(),
            source: Some(Box::new(e)),
        };
        let size = tokio::fs::metadata(&self.config.path)
            .await
            .map_err(unreadable)?
            .len();
        limits::check_size(size).map_err(|e| SourceError::Invalid {
            location: self.location(),
            detail: format!("{}: {e}", self.location()),
        })?;
        tokio::fs::read_to_string(&self.config.path)
            .await
            .map_err(unreadable)
    }
}

/// The line that says a topology file is empty on purpose.
pub const EMPTY_MARKER: &str = "# rrd:empty";

/// Decode `text`: the topology, plus entries skipped as undecodable
/// (calico-v3 files skip bad objects; a bad canonical file is refused
/// whole, since its entries depend on each other). Too large or too deeply
/// nested text is refused before parsing. A file that yields no node, RR or
/// peer is a write caught half-way (a truncated or 0-byte file) unless a
/// line of it is [`EMPTY_MARKER`].
fn decode(config: &FileConfig, text: &str) -> Result<(Topology, Vec<String>), String> {
    let file = config.path.display();
    limits::check_text(text).map_err(|e| format!("{file}: {e}"))?;
    let (topology, skipped) = match config.layout {
        FileLayout::Canonical => parse(&config.path, text)
            .map(|t| (t, Vec::new()))
            .map_err(|e| e.to_string())?,
        FileLayout::CalicoV3 => {
            let (topology, errors) = rrd_layouts::calico_v3::decode_documents(text);
            (topology, errors.iter().map(ToString::to_string).collect())
        }
    };
    let empty = topology.nodes.is_empty()
        && topology.route_reflectors.is_empty()
        && topology.peers.is_empty();
    if empty && !text.lines().any(|l| l.trim() == EMPTY_MARKER) {
        let what = if text.trim().is_empty() {
            format!("{} bytes, no content", text.len())
        } else {
            "no node, route reflector or peer".to_owned()
        };
        let mut message = format!(
            "{file}: empty topology ({what}): taken for a write caught half-way; \
             a file meant to be empty says so with a line `{EMPTY_MARKER}`"
        );
        for s in &skipped {
            message += &format!("; skipped: {s}");
        }
        return Err(message);
    }
    Ok((topology, skipped))
}

/// What the watch loop last saw on disk.
enum Seen {
    Nothing,
    Unreadable(String),
    Text(String),
}

impl PeerSource for FileSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "file",
            location: self.location(),
            rules: None,
        }
    }

    async fn snapshot(&mut self) -> Result<Topology, SourceError> {
        let text = self.read_text().await?;
        let (topology, skipped) =
            self.decode(text)
                .await
                .map_err(|detail| SourceError::Invalid {
                    location: self.location(),
                    detail,
                })?;
        for s in skipped {
            warn!(file = %self.location(), "skipped: {s}");
        }
        Ok(topology)
    }

    async fn watch(self, sink: EventSink) {
        let mut seen = Seen::Nothing;
        let mut current: Option<Topology> = None;
        // The file's last decode was refused or skipped entries.
        let mut rejected = false;
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if sink.is_closed() {
                return;
            }
            let event = match self.read_text().await {
                Err(e) => {
                    let msg = e.to_string();
                    if matches!(&seen, Seen::Unreadable(m) if *m == msg) {
                        continue;
                    }
                    warn!(file = %self.location(), error = %msg, "topology file unreadable; keeping the last good topology");
                    seen = Seen::Unreadable(msg.clone());
                    Some(SourceEvent::Status(SourceStatus::Unreachable {
                        error: msg,
                        retry_in: self.config.poll_interval,
                    }))
                }
                Ok(text) => {
                    if matches!(&seen, Seen::Text(t) if *t == text) {
                        continue;
                    }
                    let recovered = matches!(seen, Seen::Unreadable(_));
                    seen = Seen::Text(text.clone());
                    if recovered
                        && sink
                            .send(SourceEvent::Status(SourceStatus::Connected))
                            .await
                            .is_err()
                    {
                        return;
                    }
                    match self.decode(text).await {
                        Err(e) => {
                            let e = bounded_echo(&e);
                            warn!(error = %e, "topology file rejected; keeping the last good topology");
                            rejected = true;
                            Some(SourceEvent::Rejected {
                                key: self.location(),
                                reason: e,
                            })
                        }
                        Ok((next, skipped)) => {
                            let resolved = std::mem::replace(&mut rejected, !skipped.is_empty())
                                && skipped.is_empty();
                            if resolved {
                                let event = SourceEvent::Resolved {
                                    key: self.location(),
                                };
                                if sink.send(event).await.is_err() {
                                    return;
                                }
                            }
                            for reason in skipped {
                                let event = SourceEvent::Rejected {
                                    key: self.location(),
                                    reason: bounded_echo(&reason),
                                };
                                if sink.send(event).await.is_err() {
                                    return;
                                }
                            }
                            match &current {
                                None => {
                                    info!(file = %self.location(), nodes = next.nodes.len(), peers = next.peers.len(), "topology file read");
                                    current = Some(next.clone());
                                    Some(SourceEvent::Snapshot(next))
                                }
                                Some(prev) => {
                                    let changes = prev.diff(&next);
                                    debug!(changes = changes.len(), "topology file changed");
                                    current = Some(next);
                                    (!changes.is_empty()).then_some(SourceEvent::Changes(changes))
                                }
                            }
                        }
                    }
                }
            };
            if let Some(event) = event {
                if sink.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}
