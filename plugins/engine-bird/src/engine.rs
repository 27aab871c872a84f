//! [`BirdEngine`]: the `BgpEngine` for BIRD 2.x and BIRD 1.6.
//!
//! Position in source -> runtime -> engine: the runtime calls `held`,
//! `apply`, `observe`; this module turns those into file writes and
//! control-socket commands. BIRD 1.6 is handled as two "sides" (`bird` for
//! IPv4, `bird6` for IPv6), BIRD 2 as one.
//!
//! One apply renders the desired configuration once and compares it with
//! what the engine knows it left in the live file(s) ([`Loaded`], checked
//! with one `stat` per file). A changed file is staged beside the live one
//! and BIRD is told `configure "STAGED"`: BIRD parses it and either loads
//! it or refuses it and keeps running its old configuration (checked on
//! BIRD 2.0.12 and 1.6.8), so one parse both checks and loads. Only a
//! loaded file is renamed over the live file; a refused one is kept as
//! `<live>.rrd-rejected` and the live file is never touched. This order
//! keeps "the live file is a file BIRD accepted" true at every moment (a
//! daemon restarted at any time starts from it), and "the live file is what
//! BIRD loaded" true except between BIRD's answer and the rename (then the
//! live file is the previous accepted one: a crash there leaves the old
//! record and the old file, and the next rrd applies the new file again).
//! If the rename fails after BIRD loaded the staged file, BIRD is told to
//! load the live file again. BIRD's `configure FILE` leaves the file it
//! re-reads on its own (`configure`, a restart) at `-c`, the live file.
//!
//! BIRD 1.6 changes both daemons or neither as far as a parser can tell:
//! when more than one file changes, every changed file but the first one
//! loaded gets `configure check` (or `bird -p` without a daemon) before
//! anything loads. A daemon that does not run yet (managed) is started
//! from the live file after `bird -p -c STAGED` accepted it.
//!
//! What the daemon holds is also recorded in `<config_path>.rrd.json`
//! (written off the apply path, [`RecordWriter`]) and believed only while
//! re-rendering it gives exactly the live file(s). A restarted rrd thus sees
//! the config it applied, plans nothing, and sends no `configure`. With
//! `manage_process` it also finds the daemon the previous rrd left running
//! and adopts it (see [`BirdEngine::adopt`]) instead of starting a second
//! one.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use rrd_core::{
    ApplyReport, BgpEngine, DaemonProcess, DaemonState, EngineError, EngineInfo, Family,
    MigrationRole, Observation, Plan, RrConfig, SessionStatus, StartMode, StopMode,
};
use tokio::time::Instant;

use crate::applied::{LiveFile, Loaded, RecordWriter};
use crate::config::{BirdConfig, BirdVersion};
use crate::daemon::{DaemonSpec, OnDrop, Supervised};
use crate::error::BirdError;
use crate::files::{self, Staged};
use crate::observe::{self, DaemonStatus};
use crate::render::{render, RenderOptions};
use crate::socket::{BirdSocket, SocketError};
use rrd_process::PidFile;

/// How long a freshly started daemon may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an orderly or graceful-restart stop may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// First and longest wait between polls of a daemon that is starting or
/// reconfiguring: a quick answer is seen at once, a slow one costs at most
/// [`POLL_MAX`] more than it took.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(25);

/// The waits between polls: [`POLL_FIRST`] doubling up to [`POLL_MAX`].
fn poll_intervals() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(POLL_FIRST), |d| Some((*d * 2).min(POLL_MAX)))
}

/// One daemon and its files: BIRD 2's only one, or one of BIRD 1.6's two.
#[derive(Debug)]
struct Side {
    name: &'static str,
    /// The family a BIRD 1.6 daemon carries; `None` for BIRD 2.
    family: Option<Family>,
    config_path: PathBuf,
    socket: PathBuf,
    binary: PathBuf,
    /// `<config_path>.rrd.pid`: the managed daemon's PID.
    pid_path: PathBuf,
    /// The PID file, locked while this engine manages the daemon.
    pid_file: Option<Arc<PidFile>>,
    daemon: Option<Supervised>,
    /// The BGP sessions of the last `show protocols all`, by protocol
    /// name: what a states-only look completes the table with.
    listed: BTreeMap<String, SessionStatus>,
    /// The Since texts of the last looks, converted.
    sinces: observe::Sinces,
}

impl Side {
    async fn connect(&self) -> Result<BirdSocket, SocketError> {
        BirdSocket::connect(&self.socket).await
    }

    fn spec(&self) -> DaemonSpec {
        DaemonSpec {
            name: self.name,
            binary: self.binary.clone(),
            config: self.config_path.clone(),
            socket: self.socket.clone(),
        }
    }
}

/// Drives BIRD through its configuration file(s) and control socket(s).
#[derive(Debug)]
pub struct BirdEngine {
    config: BirdConfig,
    options: RenderOptions,
    sides: Vec<Side>,
    /// How a daemon rrd starts is started (`-R` for `Restarting`).
    start_mode: StartMode,
    version: Option<String>,
    /// What the live file(s) hold and the daemon(s) loaded, while known.
    loaded: Option<Loaded>,
    records: RecordWriter,
}

/// What one daemon showed in a look.
enum Listing {
    /// `show protocols all`.
    Full(Vec<SessionStatus>),
    /// `show protocols` merged into the last listing, and the protocols
    /// added since, read in full.
    States {
        sessions: Vec<SessionStatus>,
        read: Vec<SessionStatus>,
    },
}

/// Up to this many protocols added since the last full listing are read
/// one by one in a states-only look (`show protocols all "<name>"`); more,
/// and the look lists everything.
const READ_NEW_ONE_BY_ONE_UP_TO: usize = 16;

fn by_name(sessions: &[SessionStatus]) -> BTreeMap<String, SessionStatus> {
    sessions
        .iter()
        .map(|s| (s.key.0.clone(), s.clone()))
        .collect()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

impl BirdEngine {
    /// An engine for `config`; nothing is touched until [`BgpEngine::start`].
    /// Relative paths are resolved against the current directory now.
    pub fn new(config: BirdConfig) -> BirdEngine {
        let side = |name, family, cfg: &Path, sock: &Path, bin: &Path| Side {
            name,
            family,
            config_path: absolute(cfg),
            socket: absolute(sock),
            binary: bin.to_owned(),
            pid_path: BirdConfig::pid_path(&absolute(cfg)),
            pid_file: None,
            daemon: None,
            listed: BTreeMap::new(),
            sinces: observe::Sinces::default(),
        };
        let sides = match config.version {
            BirdVersion::V2 => vec![side(
                "bird",
                None,
                &config.config_path,
                &config.socket,
                &config.binary,
            )],
            BirdVersion::V1_6 => vec![
                side(
                    "bird",
                    Some(Family::Ipv4),
                    &config.config_path,
                    &config.socket,
                    &config.binary,
                ),
                side(
                    "bird6",
                    Some(Family::Ipv6),
                    &config.config_path_v6,
                    &config.socket_v6,
                    &config.binary_v6,
                ),
            ],
        };
        BirdEngine {
            options: RenderOptions::from(&config),
            records: RecordWriter::new(config.sidecar_path()),
            config,
            sides,
            start_mode: StartMode::Fresh,
            version: None,
            loaded: None,
        }
    }

    pub fn config(&self) -> &BirdConfig {
        &self.config
    }

    /// PIDs of the daemons rrd runs (managed mode), for status and tests.
    pub fn daemon_pids(&self) -> Vec<u32> {
        self.sides
            .iter()
            .filter_map(|s| s.daemon.as_ref()?.pid())
            .collect()
    }

    /// The file contents `desired` renders to, one per side.
    pub fn render_files(&self, desired: &RrConfig) -> Result<Vec<(PathBuf, String)>, BirdError> {
        Ok(self
            .sides
            .iter()
            .map(|s| s.config_path.clone())
            .zip(self.render_texts(desired)?)
            .collect())
    }

    fn render_texts(&self, desired: &RrConfig) -> Result<Vec<String>, BirdError> {
        let r = render(desired, &self.options)?;
        let mut texts = vec![r.ipv4];
        texts.extend(r.ipv6);
        Ok(texts)
    }

    /// Make `self.loaded` describe the live files if anything can: kept
    /// while every file keeps its stamp, else rebuilt from the disk when
    /// the record renders to exactly the live files. Returns `None` when
    /// `self.loaded` describes them, or the bytes on disk (`None`: no file)
    /// when nothing is known to be loaded.
    fn check_live(&mut self) -> Result<Option<Vec<Option<Vec<u8>>>>, BirdError> {
        if let Some(l) = &self.loaded {
            if l.still_live(self.sides.iter().map(|s| s.config_path.as_path()))? {
                return Ok(None);
            }
            self.loaded = None;
        }
        let mut on_disk = Vec::new();
        for side in &self.sides {
            on_disk.push(files::read_live_stamped(&side.config_path)?);
        }
        // A record still being written would be read half-old.
        self.records.flush();
        let matching = files::read_record(&self.config.sidecar_path()).and_then(|record| {
            let texts = self.render_texts(&record).ok()?;
            let files = texts
                .into_iter()
                .zip(&on_disk)
                .map(|(text, live)| match live {
                    Some((bytes, stamp)) if *bytes == text.as_bytes() => Some(LiveFile {
                        text,
                        stamp: *stamp,
                    }),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Loaded {
                config: Arc::new(record),
                files,
            })
        });
        if matching.is_some() {
            self.loaded = matching;
            return Ok(None);
        }
        Ok(Some(
            on_disk
                .into_iter()
                .map(|f| f.map(|(bytes, _)| bytes))
                .collect(),
        ))
    }

    /// After a successful apply: the live files hold `texts`, loaded.
    fn remember(&mut self, desired: &RrConfig, texts: Vec<String>) -> Result<(), BirdError> {
        let config = Arc::new(desired.clone());
        self.records.record(config.clone());
        let mut files = Vec::new();
        for (side, text) in self.sides.iter().zip(texts) {
            // Gone already: the next apply reads the disk.
            let Some(stamp) = files::stamp(&side.config_path)? else {
                return Ok(());
            };
            files.push(LiveFile { text, stamp });
        }
        self.loaded = Some(Loaded { config, files });
        Ok(())
    }

    /// Before a migration: BIRD must be rrd's (stopped without
    /// NOTIFICATIONs by PID, restarted with `-R` on a rollback) and outlive
    /// this engine; as the source it must answer on every socket now.
    async fn prepare_migration_inner(&mut self, role: MigrationRole) -> Result<(), String> {
        self.config.validate().map_err(|e| e.to_string())?;
        if !self.config.manage_process {
            return Err("engine.bird.manage_process must be true for a migration: rrd stops BIRD by PID (BIRD 1.6: SIGKILL) and restarts it with -R on a rollback".into());
        }
        self.config.stop_daemon_on_exit = false;
        if role == MigrationRole::Target {
            return Ok(());
        }
        /// How long a probe of a socket may take.
        const PROBE: Duration = Duration::from_millis(500);
        for side in &self.sides {
            match tokio::time::timeout(PROBE, tokio::net::UnixStream::connect(&side.socket)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(format!(
                    "BIRD does not answer on {} ({e}): there is no running BIRD to migrate from",
                    side.socket.display()
                ))
                }
                Err(_) => {
                    return Err(format!(
                        "BIRD does not answer on {} within {PROBE:?}",
                        side.socket.display()
                    ))
                }
            }
        }
        Ok(())
    }

    fn check_version(&mut self, socket: &BirdSocket) -> Result<(), BirdError> {
        if !self.config.version.matches_greeting(socket.greeting()) {
            return Err(BirdError::Version {
                socket: socket.path().to_owned(),
                expected: self.config.version,
                found: socket.greeting().to_owned(),
            });
        }
        self.version = socket.greeting().strip_suffix(" ready.").map(str::to_owned);
        Ok(())
    }

    fn on_drop(&self) -> OnDrop {
        if self.config.stop_daemon_on_exit {
            OnDrop::Stop
        } else {
            OnDrop::Leave
        }
    }

    /// Side `i`'s PID file, locked on first use: no other rrd may manage
    /// this daemon while this engine does.
    fn pid_file(&mut self, i: usize) -> Result<Arc<PidFile>, BirdError> {
        let side = &mut self.sides[i];
        if let Some(p) = &side.pid_file {
            return Ok(p.clone());
        }
        let p = Arc::new(PidFile::lock(&side.pid_path)?);
        side.pid_file = Some(p.clone());
        Ok(p)
    }

    /// Take over side `i`'s daemon, which answers on the socket but was
    /// started by an earlier rrd: same release, the PID serving the socket
    /// is the one in the PID file, running our files. Refused otherwise.
    async fn adopt(&mut self, i: usize) -> Result<(), BirdError> {
        let pid_file = self.pid_file(i)?;
        let s = self.sides[i].connect().await.map_err(BirdError::Connect)?;
        self.check_version(&s)?;
        let holder = s.peer_pid();
        drop(s);
        if self.start_mode == StartMode::Restarting {
            // A running BIRD cannot become a restarting speaker: without
            // the F bit its peers would flush the routes they keep.
            return Err(BirdError::RunningInsteadOfRecovering {
                socket: self.sides[i].socket.clone(),
                pid: holder.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            });
        }
        let on_drop = self.on_drop();
        let spec = self.sides[i].spec();
        self.sides[i].daemon = Some(Supervised::adopt(spec, holder, &pid_file, on_drop)?);
        Ok(())
    }

    /// Start side `i`'s daemon and wait until it answers.
    async fn spawn(&mut self, i: usize) -> Result<BirdSocket, BirdError> {
        let restarting = self.start_mode == StartMode::Restarting;
        let pid_file = self.pid_file(i)?;
        let spec = self.sides[i].spec();
        if let Some(pid) = Supervised::unreachable_sibling(&spec, &pid_file) {
            // The daemon rrd manages still runs but its socket does not
            // answer (deleted?): a second BIRD on the same files would
            // orphan it with the real sessions.
            return Err(BirdError::Unreachable {
                pid,
                pid_file: pid_file.path().to_owned(),
                socket: spec.socket.clone(),
            });
        }
        if let Some(dir) = spec.socket.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BirdError::WriteConfig {
                path: dir.to_owned(),
                source,
            })?;
        }
        let on_drop = self.on_drop();
        self.sides[i].daemon = Some(Supervised::spawn(spec, restarting, &pid_file, on_drop)?);
        match self.wait_ready(i).await {
            Ok(s) => Ok(s),
            Err(e) => {
                if let Some(d) = self.sides[i].daemon.take() {
                    let _ = d.stop(Some(Signal::SIGKILL), STOP_GRACE).await;
                }
                Err(e)
            }
        }
    }

    /// Poll side `i`'s socket until its (managed) daemon answers.
    async fn wait_ready(&mut self, i: usize) -> Result<BirdSocket, BirdError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waits = poll_intervals();
        loop {
            let side = &self.sides[i];
            match side.connect().await {
                Ok(s) => {
                    self.check_version(&s)?;
                    return Ok(s);
                }
                Err(e) => {
                    if let Some(d) = &side.daemon {
                        if let (None, Some(status)) = (d.pid(), d.last_exit()) {
                            return Err(BirdError::StartExited {
                                binary: side.binary.clone(),
                                status,
                                output: d.output_tail(),
                            });
                        }
                    }
                    if Instant::now() >= deadline {
                        tracing::debug!(socket = %side.socket.display(), error = %e, "no answer");
                        return Err(BirdError::StartTimeout {
                            binary: side.binary.clone(),
                            socket: side.socket.clone(),
                            timeout: START_TIMEOUT,
                        });
                    }
                }
            }
            tokio::time::sleep(waits.next().unwrap_or(POLL_MAX)).await;
        }
    }

    /// `bird -p -c FILE`: the offline parser, when no daemon runs.
    async fn parse_check(binary: &Path, file: &Path) -> Result<(), BirdError> {
        let out = tokio::process::Command::new(binary)
            .arg("-p")
            .arg("-c")
            .arg(file)
            .output()
            .await
            .map_err(|source| BirdError::RunCheck {
                binary: binary.to_owned(),
                file: file.to_owned(),
                source,
            })?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr);
        let text = text.trim();
        Err(BirdError::Check {
            file: file.to_owned(),
            message: text.strip_prefix("bird: ").unwrap_or(text).to_owned(),
        })
    }

    /// Keep a refused file as `<live>.rrd-rejected` and name it in the error.
    fn reject(side: &Side, staged: Staged, message: &str) -> BirdError {
        let kept = PathBuf::from(format!("{}.rrd-rejected", side.config_path.display()));
        let message = message.replace(
            &staged.path().display().to_string(),
            &kept.display().to_string(),
        );
        if let Err(e) = staged.keep_as(&kept) {
            tracing::warn!(error = %e, "cannot keep the refused configuration for inspection");
        }
        BirdError::Check {
            file: side.config_path.clone(),
            message,
        }
    }

    async fn run(
        socket: &mut BirdSocket,
        command: String,
    ) -> Result<crate::socket::Reply, BirdError> {
        socket
            .command(&command)
            .await
            .map_err(|source| BirdError::Command { command, source })
    }

    /// After `0004`: poll `show status` until BIRD reports it is done.
    async fn wait_settled(&self, socket: &mut BirdSocket) -> Result<String, BirdError> {
        let started = Instant::now();
        let mut waits = poll_intervals();
        loop {
            let st = DaemonStatus::parse(&Self::run(socket, "show status".into()).await?);
            if st.is_settled() {
                return Ok(format!(
                    "reconfiguration finished after {:?}",
                    started.elapsed()
                ));
            }
            if started.elapsed() >= self.config.reconfigure_timeout {
                tracing::warn!(waited = ?started.elapsed(), status = %st.message, "BIRD is still reconfiguring");
                return Ok(format!(
                    "still reconfiguring after {:?}: {}",
                    started.elapsed(),
                    st.message
                ));
            }
            tokio::time::sleep(waits.next().unwrap_or(POLL_MAX)).await;
        }
    }

    async fn do_start(&mut self, mode: StartMode) -> Result<(), BirdError> {
        self.config.validate()?;
        self.start_mode = mode;
        if !self.config.manage_process && mode == StartMode::Restarting {
            return Err(BirdError::Unsupported(
                "graceful-restart recovery (-R) needs engine.bird.manage_process = true: rrd cannot restart a BIRD it does not run".into(),
            ));
        }
        for i in 0..self.sides.len() {
            if self.config.manage_process {
                // Claim the daemon now: a second rrd on these files is
                // refused at start, not at its first apply.
                self.pid_file(i)?;
            }
            let side = &self.sides[i];
            if self.config.manage_process {
                if side.daemon.as_ref().is_some_and(|d| d.pid().is_some()) {
                    continue;
                }
                if side.connect().await.is_ok() {
                    self.adopt(i).await?;
                    continue;
                }
                if mode == StartMode::Restarting {
                    // `-R` recovery covers the protocols of the file BIRD
                    // starts with: it starts with the first apply, once the
                    // whole configuration is written.
                    tracing::info!(daemon = side.name, config = %side.config_path.display(), "BIRD starts in graceful-restart recovery (-R) with the first apply");
                } else if files::read_live(&side.config_path)?.is_some() {
                    self.spawn(i).await?;
                } else {
                    tracing::info!(daemon = side.name, config = %side.config_path.display(), "no configuration yet; BIRD starts with the first apply");
                }
            } else {
                let mut s = side.connect().await.map_err(BirdError::Connect)?;
                self.check_version(&s)?;
                // Which file does the daemon itself read? Only a warning:
                // rrd always names its file in `configure "..."`.
                let reply = Self::run(&mut s, "configure check".into()).await?;
                let own = reply
                    .texts(2)
                    .next()
                    .and_then(|t| t.strip_prefix("Reading configuration from "));
                let side = &self.sides[i];
                if let Some(own) = own.filter(|o| Path::new(o) != side.config_path) {
                    tracing::warn!(daemon = side.name, daemon_file = own, rrd_file = %side.config_path.display(), "BIRD was started with another configuration file; it will lose rrd's sessions when it restarts");
                }
            }
        }
        Ok(())
    }

    async fn do_apply(
        &mut self,
        desired: &RrConfig,
        plan: &Plan,
    ) -> Result<ApplyReport, BirdError> {
        let texts = self.render_texts(desired)?;
        let on_disk = self.check_live()?;
        let loaded = on_disk.is_none();
        let same: Vec<bool> = (0..self.sides.len())
            .map(|i| match (&on_disk, &self.loaded) {
                (Some(bytes), _) => bytes[i].as_deref() == Some(texts[i].as_bytes()),
                (None, Some(l)) => l.files[i].text == texts[i],
                (None, None) => false,
            })
            .collect();
        let managed = self.config.manage_process;
        let running = !managed || self.sides.iter().all(|s| s.daemon.is_some());
        if same.iter().all(|s| *s) && loaded && running {
            // Already live and loaded: no socket, no daemon touched.
            if let Some(l) = self.loaded.as_mut().filter(|l| *l.config != *desired) {
                l.config = Arc::new(desired.clone());
                self.records.record(l.config.clone());
            }
            return Ok(ApplyReport::default());
        }
        // From here on what the daemons loaded is known again only once
        // this apply succeeded. The previous live files are put back if a
        // daemon cannot start on the new ones.
        let before: Vec<Option<Vec<u8>>> = match (on_disk, self.loaded.take()) {
            (Some(bytes), _) => bytes,
            (None, Some(l)) => l
                .files
                .into_iter()
                .map(|f| Some(f.text.into_bytes()))
                .collect(),
            (None, None) => self
                .sides
                .iter()
                .map(|s| files::read_live(&s.config_path))
                .collect::<Result<_, _>>()?,
        };
        let mut ops = Vec::new();

        // Reach the daemons.
        let mut sockets: Vec<Option<BirdSocket>> = Vec::new();
        for i in 0..self.sides.len() {
            let mut connected = self.sides[i].connect().await;
            if connected.is_ok() && managed && self.sides[i].daemon.is_none() {
                // Started by an earlier rrd after our `start`: take it over.
                self.adopt(i).await?;
                connected = self.sides[i].connect().await;
            }
            let side = &self.sides[i];
            let socket = match connected {
                Ok(s) => {
                    self.check_version(&s)?;
                    Some(s)
                }
                Err(e) if !managed => return Err(BirdError::Connect(e)),
                // Ours, between a crash and its restart: wait for it.
                Err(_) if side.daemon.is_some() => Some(self.wait_ready(i).await?),
                Err(_) => None,
            };
            sockets.push(socket);
        }
        tracing::info!(engine = "bird", plan = %plan.summary(), "applying");

        // Stage every changed file; its flush to disk runs meanwhile.
        let mut staged: Vec<Option<Staged>> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            if same[i] {
                staged.push(None);
                continue;
            }
            let mut st = Staged::write(&self.sides[i].config_path, text.as_bytes(), None)?;
            st.flush_in_background()?;
            staged.push(Some(st));
        }

        // The first changed file loaded is checked by its own `configure`;
        // any other changed file is checked before anything loads.
        let first = (0..staged.len())
            .find(|&i| staged[i].is_some())
            .filter(|&i| sockets[i].is_some());
        for i in 0..staged.len() {
            let Some(file) = staged[i].as_ref().map(|st| st.path().to_owned()) else {
                continue;
            };
            if Some(i) == first {
                continue;
            }
            let side = &self.sides[i];
            let refusal = match sockets[i].as_mut() {
                Some(s) => {
                    let reply =
                        Self::run(s, format!("configure check \"{}\"", file.display())).await?;
                    ops.push(format!("{}: check: {}", side.name, reply.summary()));
                    reply.is_error().then(|| reply.message().to_owned())
                }
                None => match Self::parse_check(&side.binary, &file).await {
                    Ok(()) => {
                        ops.push(format!("{}: {} -p: ok", side.name, side.binary.display()));
                        None
                    }
                    Err(BirdError::Check { message, .. }) => Some(message),
                    Err(e) => return Err(e),
                },
            };
            if let Some(message) = refusal {
                if let Some(st) = staged[i].take() {
                    return Err(Self::reject(side, st, &message));
                }
            }
        }

        // Load: `configure "STAGED"`, then rename over the live file; or
        // start a daemon that does not run yet from the new live file.
        for i in 0..self.sides.len() {
            let path = self.sides[i].config_path.clone();
            let name = self.sides[i].name;
            let Some(socket) = sockets[i].as_mut() else {
                if let Some(st) = staged[i].take() {
                    st.commit().await?;
                    ops.push(format!("{name}: wrote {}", path.display()));
                }
                match self.spawn(i).await {
                    Ok(_) => {
                        let pid = self.sides[i].daemon.as_ref().and_then(Supervised::pid);
                        ops.push(format!("{name}: started (pid {})", pid.unwrap_or(0)));
                        continue;
                    }
                    Err(e) => {
                        if let Err(r) = files::restore(&path, before[i].as_deref()).await {
                            tracing::error!(error = %r, "cannot put the previous configuration back");
                        }
                        return Err(e);
                    }
                }
            };
            let Some(st) = staged[i].take() else {
                if loaded {
                    continue;
                }
                // The live file is right but not known to be loaded.
                let reply = Self::run(socket, format!("configure \"{}\"", path.display())).await?;
                if !loads(reply.code) {
                    return Err(BirdError::Configure {
                        file: path,
                        code: reply.code,
                        message: reply.message().to_owned(),
                    });
                }
                ops.push(format!("{name}: configure: {}", reply.summary()));
                if settling(reply.code) {
                    let waited = self.wait_settled(socket).await?;
                    ops.push(format!("{name}: {waited}"));
                }
                continue;
            };
            if self.config.version == BirdVersion::V1_6
                && before[i].is_some()
                && listen_line(before[i].as_deref()) != listen_line(Some(texts[i].as_bytes()))
            {
                tracing::warn!(
                    daemon = name,
                    "the BGP listener changed; BIRD 1.6 applies that only after a restart"
                );
                ops.push(format!(
                    "{name}: listener changed: takes effect when BIRD restarts"
                ));
            }
            let reply = Self::run(socket, format!("configure \"{}\"", st.path().display())).await?;
            if !loads(reply.code) {
                // BIRD runs what it ran and the live file is untouched.
                if Some(i) == first && reply.is_error() {
                    return Err(Self::reject(&self.sides[i], st, reply.message()));
                }
                return Err(BirdError::Configure {
                    file: path,
                    code: reply.code,
                    message: reply.message().to_owned(),
                });
            }
            ops.push(format!("{name}: configure: {}", reply.summary()));
            if let Err(e) = st.commit().await {
                // BIRD loaded a file that did not become live: have it
                // load the live one again.
                let again = Self::run(socket, format!("configure \"{}\"", path.display())).await;
                tracing::error!(error = %e, reloaded = ?again.map(|r| r.summary()), "cannot replace the live file after BIRD loaded the new one; asked BIRD to load the live file again");
                return Err(e);
            }
            ops.push(format!("{name}: wrote {}", path.display()));
            if settling(reply.code) {
                let waited = self.wait_settled(socket).await?;
                ops.push(format!("{name}: {waited}"));
            }
        }
        self.remember(desired, texts)?;
        Ok(ApplyReport {
            changed: true,
            operations: ops,
        })
    }

    /// Look at every daemon. `full`: `show protocols all` (states, counts,
    /// capabilities); otherwise `show protocols`, the table alone, over
    /// the last full listing ([`observe::states`]), with the few protocols
    /// added since read in full one by one.
    async fn do_observe(&mut self, full: bool) -> Result<Observation, BirdError> {
        let mut sessions = Vec::new();
        let mut down = Vec::new();
        for i in 0..self.sides.len() {
            let side = &self.sides[i];
            let mut s = match side.connect().await {
                Ok(s) => s,
                Err(e) if self.config.manage_process && side.daemon.is_none() => {
                    tracing::debug!(error = %e, "not started");
                    down.push(format!(
                        "{}: not started (rrd starts BIRD with the first configuration)",
                        side.name
                    ));
                    continue;
                }
                Err(e) => {
                    down.push(format!("{}: {e}", side.name));
                    continue;
                }
            };
            let name = side.name;
            // Taken out for the look: a look cut short only loses them.
            let mut sinces = std::mem::take(&mut self.sides[i].sinces);
            sinces.start_look();
            let side = &self.sides[i];
            let seen = if full || side.listed.is_empty() {
                Self::list_all(&mut s, side.family, &mut sinces).await
            } else {
                Self::list_states(&mut s, side.family, &side.listed, &mut sinces).await
            };
            self.sides[i].sinces = sinces;
            match seen {
                Ok(Listing::Full(list)) => {
                    self.sides[i].listed = by_name(&list);
                    sessions.extend(list);
                }
                Ok(Listing::States {
                    sessions: list,
                    read,
                }) => {
                    let listed = &mut self.sides[i].listed;
                    let still: HashSet<&str> = list.iter().map(|s| s.key.0.as_str()).collect();
                    listed.retain(|name, _| still.contains(name.as_str()));
                    listed.extend(by_name(&read));
                    sessions.extend(list);
                    sessions.extend(read);
                }
                Err(e) => down.push(format!("{name}: {e}")),
            }
            if full || self.version.is_none() {
                if let Ok(r) = Self::run(&mut s, "show status".into()).await {
                    if let Some(v) = DaemonStatus::parse(&r).version {
                        self.version = Some(v);
                    }
                }
            }
        }
        sessions.sort_by(|a, b| a.key.cmp(&b.key));
        let daemon = if down.is_empty() {
            DaemonState::Running
        } else {
            DaemonState::Down {
                reason: down.join("; "),
            }
        };
        Ok(Observation { daemon, sessions })
    }

    /// `show protocols all`: every BGP session in full.
    async fn list_all(
        socket: &mut BirdSocket,
        family: Option<Family>,
        sinces: &mut observe::Sinces,
    ) -> Result<Listing, String> {
        let reply = Self::run(socket, "show protocols all".into())
            .await
            .map_err(|e| e.to_string())?;
        if reply.is_error() {
            return Err(format!("show protocols all: {}", reply.summary()));
        }
        Ok(Listing::Full(observe::sessions(&reply, family, sinces)))
    }

    /// `show protocols` over `listed`; each protocol it lacks (or whose
    /// session came up or went down since) read with
    /// `show protocols all "<name>"`, or everything when many are new.
    async fn list_states(
        socket: &mut BirdSocket,
        family: Option<Family>,
        listed: &BTreeMap<String, SessionStatus>,
        sinces: &mut observe::Sinces,
    ) -> Result<Listing, String> {
        let reply = Self::run(socket, "show protocols".into())
            .await
            .map_err(|e| e.to_string())?;
        if reply.is_error() {
            return Err(format!("show protocols: {}", reply.summary()));
        }
        let merged = observe::states(&reply, listed, sinces);
        if merged.unlisted.len() > READ_NEW_ONE_BY_ONE_UP_TO {
            return Self::list_all(socket, family, sinces).await;
        }
        let mut read = Vec::new();
        for name in &merged.unlisted {
            let command = format!("show protocols all \"{name}\"");
            let reply = Self::run(socket, command.clone())
                .await
                .map_err(|e| e.to_string())?;
            if !reply.is_error() {
                read.extend(observe::sessions(&reply, family, sinces));
            }
        }
        Ok(Listing::States {
            sessions: merged.sessions,
            read,
        })
    }

    /// Ask BIRD 2 to exit without NOTIFICATIONs (`graceful restart`, 0025).
    async fn order_graceful_restart(side: &Side) -> Result<(), BirdError> {
        let mut s = side.connect().await.map_err(BirdError::Connect)?;
        let reply = Self::run(&mut s, "graceful restart".into()).await?;
        if reply.code != 25 {
            return Err(BirdError::Stop {
                binary: side.binary.clone(),
                detail: format!("graceful restart answered {}", reply.summary()),
            });
        }
        Ok(())
    }

    async fn do_stop(&mut self, mode: StopMode) -> Result<(), BirdError> {
        let version = self.config.version;
        let managed = self.config.manage_process;
        let mut first_error = None;
        for side in &mut self.sides {
            let result = match (side.daemon.take(), mode, version) {
                (Some(d), StopMode::Graceful, _) => d.stop(Some(Signal::SIGTERM), STOP_GRACE).await,
                (Some(d), StopMode::PreserveForwarding, BirdVersion::V2) => {
                    d.expect_exit();
                    match Self::order_graceful_restart(side).await {
                        Ok(()) => d.stop(None, STOP_GRACE).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "graceful restart not ordered; killing BIRD instead (no NOTIFICATION either)");
                            d.stop(Some(Signal::SIGKILL), STOP_GRACE).await
                        }
                    }
                }
                // BIRD 1.6 has no `graceful restart` command; SIGKILL sends
                // no NOTIFICATION, so peers keep our routes as stale.
                (Some(d), StopMode::PreserveForwarding, BirdVersion::V1_6) => {
                    d.stop(Some(Signal::SIGKILL), STOP_GRACE).await
                }
                (None, _, _) if managed => Ok(()),
                // Not ours: an orderly stop detaches and leaves BIRD running.
                (None, StopMode::Graceful, _) => Ok(()),
                (None, StopMode::PreserveForwarding, BirdVersion::V2) => {
                    Self::order_graceful_restart(side).await
                }
                (None, StopMode::PreserveForwarding, BirdVersion::V1_6) => Err(BirdError::Unsupported(
                    "stopping BIRD 1.6 without NOTIFICATIONs needs its PID (SIGKILL): set engine.bird.manage_process = true".into(),
                )),
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
            // Nothing left to manage: another engine (a new rrd) may.
            side.pid_file = None;
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether a `configure` reply means BIRD loaded the file: `0003`
/// reconfigured, `0004`/`0005` in progress / queued, `0019` nothing to do,
/// `0020` configuration OK.
fn loads(code: u16) -> bool {
    matches!(code, 3 | 4 | 5 | 19 | 20)
}

/// Whether BIRD is still busy after a `configure` reply (sessions shutting
/// down): `show status` tells when it is done.
fn settling(code: u16) -> bool {
    matches!(code, 4 | 5)
}

/// BIRD 1.6's global `listen bgp ...;` line, if any.
fn listen_line(text: Option<&[u8]>) -> Option<String> {
    let text = String::from_utf8_lossy(text?);
    let line = text.lines().find(|l| l.starts_with("listen bgp"))?;
    Some(line.to_owned())
}

impl BgpEngine for BirdEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: "bird",
            version: self.version.clone(),
            endpoint: self
                .sides
                .iter()
                .map(|s| s.socket.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Every file BIRD reads, each under a `# ---- <path> ----` line.
    fn render(&self, desired: &RrConfig) -> Result<String, EngineError> {
        let mut out = String::new();
        for (path, text) in self.render_files(desired)? {
            out += &format!("# ---- {} ----\n{text}", path.display());
        }
        Ok(out)
    }

    fn running_daemons(&self) -> Vec<DaemonProcess> {
        self.sides
            .iter()
            .filter_map(|side| {
                let pid = rrd_process::recorded_process(&side.pid_path, |args| {
                    rrd_process::arg_after(args, "-c").map(Path::new)
                        == Some(side.config_path.as_path())
                })?;
                Some(DaemonProcess {
                    name: side.name.to_owned(),
                    pid,
                })
            })
            .collect()
    }

    async fn prepare_migration(&mut self, role: MigrationRole) -> Result<Vec<String>, EngineError> {
        self.prepare_migration_inner(role)
            .await
            .map_err(|reason| EngineError::Precondition {
                engine: "bird",
                reason,
            })?;
        Ok(Vec::new())
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        Ok(self.do_start(mode).await?)
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        if self.config.manage_process && self.sides.iter().any(|s| s.daemon.is_none()) {
            // Ours, and not running: it holds nothing (its files may).
            return Ok(None);
        }
        Ok(match self.check_live()? {
            None => self.loaded.as_ref().map(|l| RrConfig::clone(&l.config)),
            Some(_) => None,
        })
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        let report = self.do_apply(desired, plan).await?;
        // A changed session is read in full at the next look, whatever its
        // depth: the table alone would keep its old neighbor or AS.
        for side in &mut self.sides {
            for key in plan.update.keys() {
                side.listed.remove(&key.0);
            }
        }
        Ok(report)
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        Ok(self.do_observe(true).await?)
    }

    /// `show protocols` over the last `show protocols all`.
    async fn observe_states(&mut self) -> Result<Observation, EngineError> {
        Ok(self.do_observe(false).await?)
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        Ok(self.do_stop(mode).await?)
    }

    /// A look only reads: each one opens its own control-socket
    /// connection (dropped with the look), and what it keeps (the last
    /// listing, the Since texts) is replaced only once read in full.
    fn looks_may_give_way(&self) -> bool {
        true
    }

    fn daemon_restarts(&self) -> u64 {
        self.sides
            .iter()
            .filter_map(|s| s.daemon.as_ref())
            .map(Supervised::restarts)
            .sum()
    }
}

#[cfg(test)]
mod tests;
