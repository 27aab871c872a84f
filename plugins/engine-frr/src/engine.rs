//! [`FrrEngine`]: the [`BgpEngine`] that makes FRR's bgpd hold an
//! [`RrConfig`] as one BGP view, over bgpd's vty socket.
//!
//! Position in source -> runtime -> engine: the runtime calls `held` ->
//! `plan` -> `apply` -> `observe`. An apply renders the desired view
//! ([`crate::render`]), takes the view bgpd runs, and sends only the
//! commands that differ ([`crate::delta`]): other sessions are never
//! reset, bgpd is never restarted for a change of sessions. Before a
//! command is sent, the neighbors it (re)configures are checked by bgpd
//! itself (`bgpd -C` on a file holding the view's lines and those
//! neighbors), unless bgpd already accepted neighbors of exactly that
//! shape ([`crate::checked`]); if bgpd still refuses a command, what was
//! applied before it is undone, so bgpd keeps the old configuration, and
//! the apply is [`EngineError::Rejected`].
//!
//! The view bgpd runs is read back (`show running-config`, about 70 ms at
//! 2,000 neighbors) at `held` (start and every resync), when bgpd's vty
//! socket is not the one of the last read (bgpd restarted), and after any
//! failure; a read-back apply is compared with the rendered view
//! afterwards. Between those, the engine keeps the view it applied and
//! bgpd accepted command by command, and an apply costs the commands and,
//! for a new shape, one `bgpd -C`.
//!
//! What bgpd holds is the record of the last apply
//! (`<state_dir>/applied.json`) while the running view is exactly its
//! rendering, else the running view read back ([`crate::readback`]).
//!
//! Each route-reflector client session gets an inbound route map that sets
//! ORIGINATOR_ID to the client's router id ([`crate::originator`]); when
//! `observe` finds a client whose OPEN names another id than the one
//! rendered, it warns, keeps the observed id (`<state_dir>/router-ids.json`)
//! and changes that client's route map in place. A migration to FRR hands
//! over the ids the source daemon saw ([`BgpEngine::carry_over`]), so the
//! first apply already renders them.
//!
//! With `manage_process` the engine runs bgpd itself: started with the
//! first apply (its listen port and addresses come from the RR config),
//! its file rewritten after every apply, adopted by the next rrd.

mod looks;

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use rrd_core::{
    ApplyReport, BgpEngine, DaemonProcess, EngineError, EngineInfo, MigrationRole, Observation,
    Plan, RrConfig, StartMode, StopMode,
};
use rrd_process::PidFile;
use tokio::time::Instant;

use crate::checked::CheckedShapes;
use crate::config::FrrConfig;
use crate::daemon::{Bgpd, Listen, ManagedBgpd, OnDrop};
use crate::delta;
use crate::error::{FrrError, ENGINE};
use crate::full_look::FullLook;
use crate::originator::LearnedRouterIds;
use crate::readback;
use crate::render::{file_text, render_view_reusing, RenderCache};
use crate::states::Listing;
use crate::view::View;
use crate::vty::Vty;

/// Poll interval while waiting for bgpd.
const POLL: Duration = Duration::from_millis(50);

/// A start that takes this long is logged, with progress every as long.
const SLOW_START: Duration = Duration::from_secs(5);

/// Whether a bgpd that does not answer yet is working: its CPU time, and
/// when it last grew.
struct Progress {
    cpu: Option<Duration>,
    at: Instant,
    reported: Instant,
}

impl Progress {
    fn new(pid: Option<u32>, now: Instant) -> Progress {
        Progress {
            cpu: pid.and_then(rrd_process::cpu_time),
            at: now,
            reported: now,
        }
    }

    fn look(&mut self, pid: Option<u32>, now: Instant) {
        let cpu = pid.and_then(rrd_process::cpu_time);
        if cpu > self.cpu {
            self.cpu = cpu;
            self.at = now;
        }
    }

    fn report_due(&mut self, now: Instant) -> bool {
        let due = now - self.reported >= SLOW_START;
        if due {
            self.reported = now;
        }
        due
    }
}

/// Configuration commands sent to bgpd at once ([`Vty::run_pipelined`]);
/// after a refusal the rest of its window has run too, and is undone with
/// everything else the apply did.
const PIPELINE_WINDOW: usize = 64;

/// The FRR engine. Create with [`FrrEngine::new`], then
/// [`BgpEngine::start`].
#[derive(Debug)]
pub struct FrrEngine {
    config: FrrConfig,
    daemon: Option<ManagedBgpd>,
    /// The PID file, locked from `start` until a daemon takes it over.
    pid_file: Option<PidFile>,
    start_mode: StartMode,
    version: Option<String>,
    /// Client router ids observed where they differ from the default.
    learned: LearnedRouterIds,
    /// The config of the last apply (else read from the record when
    /// needed).
    applied: Option<RrConfig>,
    /// The view bgpd runs, as last read back or applied.
    running: Option<Running>,
    /// Shapes of neighbors bgpd's check accepted.
    checked: CheckedShapes,
    /// The sessions of the last full look, for the states-only ones.
    listing: Listing,
    /// A full look under way, kept when it gives way to a datastore change.
    full_look: Option<FullLook>,
    /// Applies that changed bgpd's configuration.
    changes: u64,
    /// Each neighbor's lines as last rendered, reused while its session
    /// stays the same.
    rendered: std::sync::Mutex<RenderCache>,
}

/// The vty socket's identity: bgpd makes a new socket file when it
/// starts, so another stamp means another bgpd (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SocketStamp {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
}

impl SocketStamp {
    fn of(path: &Path) -> Option<SocketStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(SocketStamp {
            dev: m.dev(),
            ino: m.ino(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
        })
    }
}

/// What the view bgpd runs is (`None`: bgpd has no such view), believed
/// while bgpd's socket keeps `socket`.
#[derive(Debug)]
struct Running {
    socket: SocketStamp,
    view: Option<View>,
}

impl FrrEngine {
    pub fn new(config: FrrConfig) -> FrrEngine {
        let learned = LearnedRouterIds::load(&config.router_ids_path());
        FrrEngine {
            config,
            daemon: None,
            pid_file: None,
            start_mode: StartMode::Fresh,
            version: None,
            learned,
            applied: None,
            running: None,
            checked: CheckedShapes::default(),
            listing: Listing::default(),
            full_look: None,
            changes: 0,
            rendered: Default::default(),
        }
    }

    /// The view `desired` renders to, with the router ids learned so far
    /// (unless told to set no ORIGINATOR_ID).
    /// More ORIGINATOR_ID route maps than `originator_route_maps_up_to`
    /// are refused: bgpd 8.4 loads route maps in time that grows with the
    /// square of those it holds, and would not answer meanwhile.
    fn view_of(&self, desired: &RrConfig) -> Result<View, crate::render::RenderError> {
        let originators = self.config.set_originator_id.then_some(&self.learned);
        let mut cache = self.rendered.lock().unwrap_or_else(|e| e.into_inner());
        let view = render_view_reusing(desired, &self.config.view, originators, &mut cache)?;
        drop(cache);
        let limit = self.config.originator_route_maps_up_to;
        if view.route_maps.len() > limit {
            return Err(crate::render::RenderError {
                problems: vec![format!(
                    "{} ORIGINATOR_ID route maps (one per route-reflector client router id), \
                     more than engine.frr.originator_route_maps_up_to = {limit}: bgpd 8.4 \
                     takes minutes to load a few hundred and answers nothing meanwhile; set \
                     engine.frr.set_originator_id = false to reflect without them (bgpd then \
                     adds MED 0 to routes that came without one), or raise the limit",
                    view.route_maps.len()
                )],
            });
        }
        Ok(view)
    }

    pub fn config(&self) -> &FrrConfig {
        &self.config
    }

    /// What a full look read stays true until this changes: bgpd's
    /// configuration changed by an apply, or bgpd restarted.
    fn generation(&self) -> u64 {
        self.changes + self.daemon.as_ref().map_or(0, ManagedBgpd::restarts)
    }

    /// PID of the managed bgpd, while one runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(ManagedBgpd::pid)
    }

    fn on_drop(&self) -> OnDrop {
        if self.config.stop_daemon_on_exit {
            OnDrop::Stop
        } else {
            OnDrop::Leave
        }
    }

    async fn vty(&self) -> Result<Vty, FrrError> {
        let vty = Vty::connect(&self.config.vty_path(), self.config.connect_timeout).await?;
        Ok(vty.with_timeout(self.config.request_timeout))
    }

    /// Managed, and no bgpd runs (yet): it holds nothing.
    fn managed_and_down(&self) -> bool {
        self.config.manage_process && self.daemon_pid().is_none()
    }

    fn lock_pid_file(&mut self) -> Result<PidFile, FrrError> {
        match self.pid_file.take() {
            Some(p) => Ok(p),
            None => Ok(PidFile::lock(&self.config.pid_path())?),
        }
    }

    /// The listener the desired config asks bgpd for.
    fn listen_of(&self, desired: &RrConfig) -> Listen {
        let r = &desired.router;
        Listen {
            port: self.config.listen_port.or(r.listen_port).unwrap_or(179),
            addresses: r
                .ipv4
                .map(std::net::IpAddr::V4)
                .into_iter()
                .chain(r.ipv6.map(std::net::IpAddr::V6))
                .collect(),
        }
    }

    async fn read_version(&mut self, vty: &mut Vty) {
        if let Ok(r) = vty.run("show version").await {
            // "FRRouting 8.4.4 (host) on Linux(...)."
            let mut w = r.text.split_whitespace();
            if let (Some("FRRouting"), Some(v)) = (w.next(), w.next()) {
                self.version = Some(format!("FRR {v}"));
            }
        }
    }

    async fn start_inner(&mut self, mode: StartMode) -> Result<(), FrrError> {
        self.config.validate()?;
        self.start_mode = mode;
        if !self.config.manage_process {
            if mode == StartMode::Restarting {
                return Err(FrrError::Unsupported(
                    "starting bgpd as a graceful-restart restarting speaker needs engine.frr.manage_process = true: rrd cannot restart a bgpd it does not run".into(),
                ));
            }
            let mut vty = self.vty().await?;
            self.read_version(&mut vty).await;
            return Ok(());
        }
        if self.daemon_pid().is_some() {
            return Ok(());
        }
        let pid_file = self.lock_pid_file()?;
        if let Some((pidfd, args)) = ManagedBgpd::find_adoptable(&self.config, &pid_file) {
            if mode == StartMode::Restarting {
                let pid = pidfd.pid();
                self.pid_file = Some(pid_file);
                return Err(FrrError::RunningInsteadOfRestarting { pid });
            }
            let bgpd = Bgpd::new(&self.config, Listen::of_args(&args));
            self.daemon = Some(ManagedBgpd::adopt(bgpd, pidfd, pid_file, self.on_drop()));
            if let Ok(mut vty) = self.vty().await {
                self.read_version(&mut vty).await;
            }
            return Ok(());
        }
        if Vty::connect(&self.config.vty_path(), Duration::from_millis(500))
            .await
            .is_ok()
        {
            self.pid_file = Some(pid_file);
            return Err(FrrError::AlreadyRunning {
                socket: self.config.vty_path(),
            });
        }
        self.pid_file = Some(pid_file);
        if mode == StartMode::Restarting {
            // A fresh bgpd is the restarting speaker (R bit while it starts
            // up, F bit from preserve-fw-state): started by the first
            // apply, with exactly what that apply holds.
            tracing::info!("bgpd starts as a restarting speaker with the first apply");
            return Ok(());
        }
        match (
            read_record(&self.config.record_path()),
            self.config.config_path.exists(),
        ) {
            (Some(record), true) => {
                // bgpd comes back with the file of the last apply.
                let listen = self.listen_of(&record);
                self.spawn(listen).await?;
            }
            _ => tracing::info!(
                config = %self.config.config_path.display(),
                "no configuration yet; bgpd starts with the first apply"
            ),
        }
        Ok(())
    }

    /// Start bgpd with the file on disk and wait until it answers.
    ///
    /// bgpd opens its vty socket only once it has read its whole file:
    /// 2,099 neighbors took it up to 18 s on the test VM, depending on how
    /// fast the VM got fresh memory. So the wait is `connect_timeout`
    /// without progress: while bgpd's CPU time grows it is reading, not
    /// stuck, and killing it would only start the same work again.
    async fn spawn(&mut self, listen: Listen) -> Result<(), FrrError> {
        let pid_file = self.lock_pid_file()?;
        let bgpd = Bgpd::new(&self.config, listen);
        let on_drop = self.on_drop();
        self.daemon = Some(ManagedBgpd::start(bgpd, pid_file, on_drop)?);
        let started = Instant::now();
        let mut progress = Progress::new(self.daemon_pid(), started);
        loop {
            let answer = Vty::connect(&self.config.vty_path(), Duration::from_millis(500)).await;
            if let Ok(mut vty) = answer {
                if started.elapsed() >= SLOW_START {
                    tracing::info!(took = ?started.elapsed(), "bgpd answers");
                }
                self.read_version(&mut vty).await;
                return Ok(());
            }
            let exited = self
                .daemon
                .as_ref()
                .filter(|d| d.pid().is_none())
                .and_then(ManagedBgpd::last_exit);
            let now = Instant::now();
            progress.look(self.daemon_pid(), now);
            if exited.is_some() || now - progress.at >= self.config.connect_timeout {
                if let Some(d) = self.daemon.take() {
                    d.stop(Signal::SIGKILL).await;
                }
                return Err(FrrError::StartTimeout {
                    socket: self.config.vty_path(),
                    waited: now - started,
                    idle: now - progress.at,
                    exit: exited,
                });
            }
            if progress.report_due(now) {
                tracing::info!(
                    waited = ?(now - started),
                    cpu = ?progress.cpu,
                    "bgpd is still reading its configuration"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn running_view(&self, vty: &mut Vty) -> Result<Option<View>, FrrError> {
        let r = vty.run("show running-config").await?;
        if !r.ok() {
            return Err(FrrError::Decode {
                command: "show running-config".into(),
                detail: r.message(),
            });
        }
        Ok(View::parse(&r.text, &self.config.view))
    }

    /// The view bgpd runs, read back, and believed from now on.
    async fn read_back(&mut self, vty: &mut Vty) -> Result<Option<View>, FrrError> {
        self.running = None;
        let socket = SocketStamp::of(&self.config.vty_path());
        let view = self.running_view(vty).await?;
        if let Some(socket) = socket {
            self.running = Some(Running {
                socket,
                view: view.clone(),
            });
        }
        Ok(view)
    }

    /// Whether `running` is about the bgpd that answers now (the same vty
    /// socket).
    fn still_true(&self, running: &Running) -> bool {
        SocketStamp::of(&self.config.vty_path()) == Some(running.socket)
    }

    /// The addresses of the neighbors of the view bgpd is believed to run
    /// (see [`Running`]); `None` when there is no such belief or no view.
    fn believed_peers(&self) -> Option<std::collections::BTreeSet<std::net::IpAddr>> {
        let r = self.running.as_ref().filter(|r| self.still_true(r))?;
        Some(r.view.as_ref()?.neighbors.keys().copied().collect())
    }

    /// The view bgpd runs as the engine believes it, if it still talks to
    /// the bgpd it read or applied it to; taken (a failure leaves nothing
    /// to believe).
    fn believed(&mut self) -> Option<(SocketStamp, Option<View>)> {
        let r = self.running.take()?;
        self.still_true(&r).then_some((r.socket, r.view))
    }

    async fn held_inner(&mut self) -> Result<Option<RrConfig>, FrrError> {
        if self.managed_and_down() {
            return Ok(None);
        }
        let mut vty = self.vty().await?;
        let Some(live) = self.read_back(&mut vty).await? else {
            return Ok(None);
        };
        let record = read_record(&self.config.record_path());
        if let Some(r) = &record {
            if self.view_of(r).ok().as_ref() == Some(&live) {
                return Ok(record);
            }
        }
        Ok(Some(readback::config_of(
            &live,
            record.as_ref().map(|r| &r.router),
        )))
    }

    /// `bgpd -C`: load `text` into a scratch bgpd that exits at once; its
    /// complaints are the configuration's errors.
    async fn check(&self, text: &str) -> Result<(), FrrError> {
        let dir = self.config.state_dir.join("check");
        std::fs::create_dir_all(&dir).map_err(|source| FrrError::Write {
            path: dir.clone(),
            source,
        })?;
        let file = dir.join("bgpd.conf");
        write_file(&file, text.as_bytes())?;
        let out = tokio::process::Command::new(&self.config.binary)
            .args(["-C", "-Z", "-S", "-f"])
            .arg(&file)
            .arg("--vty_socket")
            .arg(&dir)
            .output()
            .await
            .map_err(|source| FrrError::RunCheck {
                binary: self.config.binary.clone(),
                source,
            })?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let problems: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('%') || l.contains("[EC "))
            .collect();
        if problems.is_empty() && out.status.success() {
            return Ok(());
        }
        Err(FrrError::Check {
            message: if problems.is_empty() {
                format!("{}: {}", out.status, text.trim())
            } else {
                problems.join("; ")
            },
        })
    }

    /// `bgpd -C` of one neighbor (and route map) of each shape in
    /// `changed` that bgpd has not accepted yet ([`CheckedShapes`]); what
    /// was checked, as an operation.
    async fn check_shapes(&mut self, changed: &View) -> Result<String, FrrError> {
        let Some(unchecked) = self.checked.unchecked(changed) else {
            return Ok(format!(
                "bgpd -C: not run ({} neighbors of shapes it accepted)",
                changed.neighbors.len()
            ));
        };
        self.check(&format!("frr defaults traditional\n{}", unchecked.text()))
            .await?;
        self.checked.accepted(&unchecked);
        Ok(format!(
            "bgpd -C: ok ({} of {} neighbors checked, the others' shapes were)",
            unchecked.neighbors.len(),
            changed.neighbors.len()
        ))
    }

    /// Send `commands` in configuration mode; on the first refusal, undo
    /// by going back to `before` and report the refused command.
    async fn configure(
        &mut self,
        vty: &mut Vty,
        commands: &[String],
        before: Option<&View>,
        desired: &View,
    ) -> Result<(), FrrError> {
        self.running = None;
        let conf = vty.run("configure terminal").await?;
        if !conf.ok() {
            return Err(FrrError::Refused {
                command: "configure terminal".into(),
                message: conf.message(),
                rolled_back: false,
            });
        }
        let mut refused = None;
        for window in commands.chunks(PIPELINE_WINDOW) {
            let replies = vty.run_pipelined(window).await?;
            if let Some((c, r)) = window.iter().zip(&replies).find(|(_, r)| !r.ok()) {
                refused = Some((c.clone(), r.message()));
                break;
            }
        }
        vty.run("end").await?;
        let Some((command, message)) = refused else {
            return Ok(());
        };
        // Checked shapes let this through, or bgpd refuses what its check
        // accepts: check everything again.
        self.checked.forget();
        tracing::warn!(%command, %message, "bgpd refused a command; undoing what was applied");
        let now = self.running_view(vty).await?;
        let undo = match before {
            Some(b) => delta::commands(now.as_ref(), b),
            None if now.is_some() => vec![format!("no {}", desired.header())],
            None => Vec::new(),
        };
        vty.run("configure terminal").await?;
        for window in undo.chunks(PIPELINE_WINDOW) {
            let replies = vty.run_pipelined(window).await?;
            for (c, r) in window.iter().zip(&replies).filter(|(_, r)| !r.ok()) {
                tracing::error!(command = %c, message = %r.message(), "undo refused");
            }
        }
        vty.run("end").await?;
        Err(FrrError::Refused {
            command,
            message,
            rolled_back: true,
        })
    }

    async fn apply_inner(
        &mut self,
        desired: &RrConfig,
        plan: &Plan,
    ) -> Result<ApplyReport, FrrError> {
        if plan.is_empty() {
            return Ok(ApplyReport::default());
        }
        let started = Instant::now();
        if self.learned.update(&[], desired) {
            self.save_learned()?;
        }
        let view = self.view_of(desired)?;
        let rendered = started.elapsed();
        let mut ops = Vec::new();
        if self.config.manage_process {
            let listen = self.listen_of(desired);
            let relisten = self
                .daemon
                .as_ref()
                .filter(|d| d.pid().is_some())
                .is_some_and(|d| *d.listen() != listen);
            if relisten {
                tracing::warn!(?listen, "bgpd's listen port or addresses change: restarting bgpd (its peers keep its routes: graceful restart)");
                if let Some(d) = self.daemon.take() {
                    self.pid_file = None;
                    d.stop(Signal::SIGTERM).await;
                }
            }
            if self.daemon_pid().is_none() {
                // One neighbor of each shape is checked, as for a change:
                // `bgpd -C` of the whole file would load every neighbor
                // into a scratch bgpd (1.6 s at 2,099 on the test VM, and
                // the ~0.75 MB each new neighbor costs bgpd, twice).
                let checked = self
                    .check_shapes(&delta::changed_neighbors(None, &view))
                    .await?;
                ops.push(checked);
                let text = file_text(&view, desired);
                write_file(&self.config.config_path, text.as_bytes())?;
                self.spawn(listen).await?;
                self.changes += 1;
                ops.push(format!(
                    "bgpd started with {} ({} sessions, pid {})",
                    self.config.config_path.display(),
                    desired.neighbors.len(),
                    self.daemon_pid().unwrap_or(0)
                ));
                self.verify(&view).await?;
                self.record(desired, None)?;
                return Ok(ApplyReport {
                    changed: true,
                    operations: ops,
                });
            }
        }
        let mut vty = self.vty().await?;
        let (socket, live) = match self.believed() {
            Some((socket, live)) => (Some(socket), live),
            None => (None, self.read_back(&mut vty).await?),
        };
        let commands = delta::commands(live.as_ref(), &view);
        if commands.is_empty() {
            self.record(desired, Some(&file_text(&view, desired)))?;
            self.running = self
                .running
                .take()
                .or(socket.map(|socket| Running { socket, view: live }));
            return Ok(ApplyReport::default());
        }
        let changed = delta::changed_neighbors(live.as_ref(), &view);
        ops.push(self.check_shapes(&changed).await?);
        tracing::info!(
            engine = ENGINE,
            plan = %plan.summary(),
            commands = commands.len(),
            ?rendered,
            prepared = ?started.elapsed(),
            "applying"
        );
        let sent = Instant::now();
        self.configure(&mut vty, &commands, live.as_ref(), &view)
            .await?;
        tracing::debug!(took = ?sent.elapsed(), "bgpd ran the commands");
        ops.extend(commands);
        self.changes += 1;
        // The file's text only now: ~1 ms at 2,000 neighbors that the
        // change need not wait for.
        let text = file_text(&view, desired);
        match socket {
            // bgpd accepted every command on the view it ran.
            Some(socket) => {
                self.running = Some(Running {
                    socket,
                    view: Some(view),
                })
            }
            None => self.verify(&view).await?,
        }
        self.record(desired, Some(&text))?;
        Ok(ApplyReport {
            changed: true,
            operations: ops,
        })
    }

    /// The running view must now be the rendered one (a bgpd just started
    /// may still be reading its file: polled up to `connect_timeout`);
    /// believed from then on.
    async fn verify(&mut self, view: &View) -> Result<(), FrrError> {
        let deadline = Instant::now() + self.config.connect_timeout;
        let live = loop {
            let mut vty = self.vty().await?;
            let live = self.read_back(&mut vty).await?;
            if live.as_ref() == Some(view) {
                return Ok(());
            }
            if live.is_some() || Instant::now() >= deadline {
                break live;
            }
            tokio::time::sleep(POLL).await;
        };
        let detail = match &live {
            None => "bgpd has no such view".to_owned(),
            Some(l) => delta::commands(Some(l), view).join("; "),
        };
        Err(FrrError::Diverged {
            view: self.config.view.clone(),
            detail: format!("commands still needed: {detail}"),
        })
    }

    /// Keep what was applied: the record, and (managed) the file bgpd
    /// restarts with.
    fn record(&mut self, desired: &RrConfig, text: Option<&str>) -> Result<(), FrrError> {
        self.applied = Some(desired.clone());
        if let (true, Some(text)) = (self.config.manage_process, text) {
            let same = std::fs::read(&self.config.config_path).is_ok_and(|b| b == text.as_bytes());
            if !same {
                write_file(&self.config.config_path, text.as_bytes())?;
            }
        }
        rrd_process::record::write_json(&self.config.record_path(), desired).map_err(|source| {
            FrrError::Write {
                path: self.config.record_path(),
                source,
            }
        })
    }

    async fn stop_inner(&mut self, mode: StopMode) -> Result<(), FrrError> {
        let daemon = self.daemon.take();
        self.pid_file = None;
        match (daemon, mode) {
            (Some(d), StopMode::Graceful) => {
                // With graceful restart on, bgpd closes its sessions on
                // SIGTERM without a NOTIFICATION; removing the view first
                // sends Cease to every peer.
                if let Ok(mut vty) = self.vty().await {
                    if let Ok(Some(live)) = self.running_view(&mut vty).await {
                        let _ = vty.run("configure terminal").await;
                        let _ = vty.run(&format!("no {}", live.header())).await;
                        let _ = vty.run("end").await;
                    }
                }
                d.stop(Signal::SIGTERM).await;
            }
            // SIGKILL: no NOTIFICATION whatever the sessions negotiated.
            (Some(d), StopMode::PreserveForwarding) => d.stop(Signal::SIGKILL).await,
            (None, _) if self.config.manage_process => {}
            // Not ours: an orderly stop detaches and leaves bgpd running.
            (None, StopMode::Graceful) => {}
            (None, StopMode::PreserveForwarding) => {
                return Err(FrrError::Unsupported(
                    "bgpd is not run by rrd (engine.frr.manage_process = false): rrd cannot stop it without NOTIFICATIONs; SIGKILL it with its service manager".into(),
                ))
            }
        }
        Ok(())
    }
}

/// The config recorded by the last apply, if readable.
fn read_record(path: &Path) -> Option<RrConfig> {
    rrd_process::record::read_json(path)
}

/// Write `bytes` to `path` atomically and privately (the configuration
/// and the record hold session passwords).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FrrError> {
    rrd_process::record::write_private(path, bytes).map_err(|source| FrrError::Write {
        path: path.to_owned(),
        source,
    })
}

impl BgpEngine for FrrEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: ENGINE,
            version: self.version.clone(),
            endpoint: self.config.vty_path().display().to_string(),
        }
    }

    /// The file bgpd starts with: `frr defaults traditional` and the view.
    fn render(&self, desired: &RrConfig) -> Result<String, EngineError> {
        let view = self.view_of(desired).map_err(FrrError::from)?;
        Ok(file_text(&view, desired))
    }

    fn running_daemons(&self) -> Vec<DaemonProcess> {
        rrd_process::recorded_process(&self.config.pid_path(), |args| {
            self.config.is_own_daemon(args)
        })
        .map(|pid| DaemonProcess {
            name: "bgpd".into(),
            pid,
        })
        .into_iter()
        .collect()
    }

    /// bgpd must be rrd's (SIGKILL is how it stops without NOTIFICATIONs,
    /// and a fresh bgpd is a restarting speaker) and outlive this engine;
    /// as the source it must run now.
    async fn prepare_migration(&mut self, role: MigrationRole) -> Result<Vec<String>, EngineError> {
        let refuse = |reason: String| EngineError::Precondition {
            engine: ENGINE,
            reason,
        };
        self.config.validate().map_err(|e| refuse(e.to_string()))?;
        if !self.config.manage_process {
            return Err(refuse("engine.frr.manage_process must be true for a migration: rrd starts bgpd as a restarting speaker, and stops it with SIGKILL (no NOTIFICATION)".into()));
        }
        self.config.stop_daemon_on_exit = false;
        if role == MigrationRole::Source && self.running_daemons().is_empty() {
            return Err(refuse(format!(
                "{} names no running bgpd of rrd's: there is no bgpd to migrate from",
                self.config.pid_path().display()
            )));
        }
        Ok(Vec::new())
    }

    /// The clients' router ids of the source's look, for the
    /// ORIGINATOR_ID route maps of the first apply.
    fn carry_over(&mut self, source: &Observation, desired: &RrConfig) -> Result<(), EngineError> {
        Ok(self.carry_over_inner(source, desired)?)
    }

    async fn start(&mut self, mode: StartMode) -> Result<(), EngineError> {
        Ok(self.start_inner(mode).await?)
    }

    async fn held(&mut self) -> Result<Option<RrConfig>, EngineError> {
        Ok(self.held_inner().await?)
    }

    async fn apply(&mut self, desired: &RrConfig, plan: &Plan) -> Result<ApplyReport, EngineError> {
        Ok(self.apply_inner(desired, plan).await?)
    }

    async fn observe(&mut self) -> Result<Observation, EngineError> {
        Ok(self.observe_inner().await?)
    }

    /// `show bgp view <v> summary json` over the last full look.
    async fn observe_states(&mut self) -> Result<Observation, EngineError> {
        Ok(self.observe_states_inner().await?)
    }

    /// Only without the ORIGINATOR_ID route maps (`set_originator_id =
    /// false`): a look then merely reads, over a vty connection of its own
    /// (dropped with it), and keeps its listing only at its end. With the
    /// route maps a look may correct one, and a configuration cut short
    /// would leave bgpd and the engine's view of it apart.
    fn looks_may_give_way(&self) -> bool {
        !self.config.set_originator_id
    }

    fn daemon_restarts(&self) -> u64 {
        self.daemon.as_ref().map_or(0, ManagedBgpd::restarts)
    }

    async fn stop(&mut self, mode: StopMode) -> Result<(), EngineError> {
        Ok(self.stop_inner(mode).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_give_way_only_without_the_originator_route_maps() {
        let with_maps = FrrEngine::new(FrrConfig {
            set_originator_id: true,
            ..FrrConfig::default()
        });
        let without = FrrEngine::new(FrrConfig {
            set_originator_id: false,
            ..FrrConfig::default()
        });
        assert!(!with_maps.looks_may_give_way());
        assert!(without.looks_may_give_way());
    }

    #[test]
    fn more_route_maps_than_the_limit_are_refused_naming_the_keys() {
        let desired = rrd_core::testing::conformance::suite_config(&crate::render::tests::params());
        let engine = |set_originator_id, originator_route_maps_up_to| {
            FrrEngine::new(FrrConfig {
                set_originator_id,
                originator_route_maps_up_to,
                ..FrrConfig::in_dir(std::path::Path::new("/nonexistent"), "t")
            })
        };
        // The suite has two clients with IPv4 router ids: two route maps.
        assert!(engine(true, 2).render(&desired).is_ok());
        let refused = engine(true, 1).render(&desired).unwrap_err().to_string();
        assert!(refused.contains("2 ORIGINATOR_ID route maps"), "{refused}");
        assert!(
            refused.contains("engine.frr.originator_route_maps_up_to = 1"),
            "{refused}"
        );
        assert!(
            refused.contains("engine.frr.set_originator_id = false"),
            "{refused}"
        );
        // Without the route maps the limit does not apply.
        assert!(engine(false, 0).render(&desired).is_ok());
    }
}
