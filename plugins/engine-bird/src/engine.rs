//! [`BirdEngine`]: the `BgpEngine` for BIRD 2.x and BIRD 1.6.
//!
//! Position in source -> runtime -> engine: the runtime calls `held`,
//! `apply`, `observe`; this module turns those into file writes and
//! control-socket commands, in two phases — first render, stage and have
//! BIRD check every file (nothing live changes if anything is refused),
//! then rename over the live file(s) and `configure`. BIRD 1.6 is handled
//! as two "sides" (`bird` for IPv4, `bird6` for IPv6), BIRD 2 as one.
//!
//! What the daemon holds is known from `<config_path>.rrd.json`, written
//! after every successful apply and believed only while re-rendering it
//! gives exactly the live file(s). A restarted rrd thus sees the config it
//! applied, plans nothing, and sends no `configure`. With `manage_process`
//! it also finds the daemon the previous rrd left running and adopts it
//! (see [`BirdEngine::adopt`]) instead of starting a second one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use rrd_core::{
    ApplyReport, BgpEngine, DaemonProcess, DaemonState, EngineError, EngineInfo, Family,
    MigrationRole, Observation, Plan, RrConfig, StartMode, StopMode,
};
use tokio::time::Instant;

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
/// Poll interval while waiting for a daemon or a reconfiguration.
const POLL: Duration = Duration::from_millis(100);

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
            config,
            sides,
            start_mode: StartMode::Fresh,
            version: None,
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
        let r = render(desired, &self.options)?;
        let mut texts = vec![r.ipv4];
        texts.extend(r.ipv6);
        Ok(self
            .sides
            .iter()
            .map(|s| s.config_path.clone())
            .zip(texts)
            .collect())
    }

    fn read_live(&self) -> Result<Vec<Option<Vec<u8>>>, BirdError> {
        self.sides
            .iter()
            .map(|s| files::read_live(&s.config_path))
            .collect()
    }

    /// The recorded `RrConfig`, if re-rendering it gives exactly `live`.
    fn recorded(&self, live: &[Option<Vec<u8>>]) -> Option<RrConfig> {
        let record = files::read_record(&self.config.sidecar_path())?;
        let texts = self.render_files(&record).ok()?;
        let same = texts
            .iter()
            .zip(live)
            .all(|((_, t), l)| l.as_deref() == Some(t.as_bytes()));
        same.then_some(record)
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
            tokio::time::sleep(POLL).await;
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
            tokio::time::sleep(POLL).await;
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
        let texts = self.render_files(desired)?;
        let live = self.read_live()?;
        let recorded = self.recorded(&live);
        let loaded = recorded.is_some();
        let same: Vec<bool> = texts
            .iter()
            .zip(&live)
            .map(|((_, t), l)| l.as_deref() == Some(t.as_bytes()))
            .collect();
        let managed = self.config.manage_process;
        let running = !managed || self.sides.iter().all(|s| s.daemon.is_some());
        if same.iter().all(|s| *s) && loaded && running {
            // Already live and loaded: no socket, no daemon touched.
            if recorded.as_ref() != Some(desired) {
                files::write_record(&self.config.sidecar_path(), desired)?;
            }
            return Ok(ApplyReport::default());
        }
        let mut ops = Vec::new();

        // Phase 1: reach the daemons, stage and check every changed file.
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
        let mut staged: Vec<Option<Staged>> = Vec::new();
        for (i, (path, text)) in texts.iter().enumerate() {
            if same[i] {
                staged.push(None);
                continue;
            }
            let st = Staged::write(path, text.as_bytes(), None)?;
            let side = &self.sides[i];
            match sockets[i].as_mut() {
                Some(s) => {
                    let reply =
                        Self::run(s, format!("configure check \"{}\"", st.path().display()))
                            .await?;
                    if reply.is_error() {
                        return Err(Self::reject(side, st, reply.message()));
                    }
                    ops.push(format!("{}: check: {}", side.name, reply.summary()));
                }
                None => match Self::parse_check(&side.binary, st.path()).await {
                    Ok(()) => ops.push(format!("{}: {} -p: ok", side.name, side.binary.display())),
                    Err(BirdError::Check { message, .. }) => {
                        return Err(Self::reject(side, st, &message))
                    }
                    Err(e) => return Err(e),
                },
            }
            staged.push(Some(st));
        }

        // Phase 2: replace, then load; put the old file back if refused.
        for (i, staged) in staged.into_iter().enumerate() {
            let path = self.sides[i].config_path.clone();
            let name = self.sides[i].name;
            if let Some(st) = staged {
                if listen_line(live[i].as_deref()) != listen_line(Some(texts[i].1.as_bytes()))
                    && live[i].is_some()
                    && self.config.version == BirdVersion::V1_6
                {
                    tracing::warn!(
                        daemon = name,
                        "the BGP listener changed; BIRD 1.6 applies that only after a restart"
                    );
                    ops.push(format!(
                        "{name}: listener changed: takes effect when BIRD restarts"
                    ));
                }
                st.commit()?;
                ops.push(format!("{name}: wrote {}", path.display()));
            }
            let Some(socket) = sockets[i].as_mut() else {
                match self.spawn(i).await {
                    Ok(_) => {
                        let pid = self.sides[i].daemon.as_ref().and_then(Supervised::pid);
                        ops.push(format!("{name}: started (pid {})", pid.unwrap_or(0)));
                        continue;
                    }
                    Err(e) => {
                        if let Err(r) = files::restore(&path, live[i].as_deref()) {
                            tracing::error!(error = %r, "cannot put the previous configuration back");
                        }
                        return Err(e);
                    }
                }
            };
            if same[i] && loaded {
                continue;
            }
            let reply = Self::run(socket, format!("configure \"{}\"", path.display())).await?;
            match reply.code {
                3 | 19 | 20 => ops.push(format!("{name}: configure: {}", reply.summary())),
                4 | 5 => {
                    ops.push(format!("{name}: configure: {}", reply.summary()));
                    let waited = self.wait_settled(socket).await?;
                    ops.push(format!("{name}: {waited}"));
                }
                code => {
                    if let Err(r) = files::restore(&path, live[i].as_deref()) {
                        tracing::error!(error = %r, "cannot put the previous configuration back");
                    }
                    return Err(BirdError::Configure {
                        file: path,
                        code,
                        message: reply.message().to_owned(),
                    });
                }
            }
        }
        files::write_record(&self.config.sidecar_path(), desired)?;
        Ok(ApplyReport {
            changed: true,
            operations: ops,
        })
    }

    async fn do_observe(&mut self) -> Result<Observation, BirdError> {
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
            let family = side.family;
            let name = side.name;
            let protocols = Self::run(&mut s, "show protocols all".into()).await;
            match protocols {
                Ok(r) if !r.is_error() => sessions.extend(observe::sessions(&r, family)),
                Ok(r) => down.push(format!("{name}: show protocols all: {}", r.summary())),
                Err(e) => down.push(format!("{name}: {e}")),
            }
            if let Ok(r) = Self::run(&mut s, "show status".into()).await {
                if let Some(v) = DaemonStatus::parse(&r).version {
                    self.version = Some(v);
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
        let live = self.read_live()?;
        Ok(self.recorded(&live))
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        Ok(self.do_apply(desired, plan).await?)
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        Ok(self.do_observe().await?)
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        Ok(self.do_stop(mode).await?)
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
