//! [`FrrEngine`]'s looks and the clients' router ids: the full look
//! (every peer the summary shows read as
//! `show bgp view <v> neighbors <address> json`, a window at a time and
//! resumed where it gave way:
//! [`crate::full_look`]; plus the best paths per peer, for the route
//! counts), the states-only look (`summary json`, with sessions
//! that came or went read alone), and what both do for the ORIGINATOR_ID
//! route maps: a client whose OPEN names another router id than the one
//! rendered has its route map changed in place and the id kept
//! (`<state_dir>/router-ids.json`); a migration's [`BgpEngine::carry_over`]
//! fills the same store from the source daemon's look.
//!
//! [`BgpEngine::carry_over`]: rrd_core::BgpEngine::carry_over

use rrd_core::{DaemonState, Observation, RrConfig};
use tokio::time::Instant;

use super::{read_record, FrrEngine};
use crate::delta;
use crate::error::FrrError;
use crate::full_look::{read_neighbors, FullLook};
use crate::observe;
use crate::originator;
use crate::render::file_text;
use crate::states::summary_peers;
use crate::vty::Vty;

/// Up to this many sessions new or changed since the last full look, a
/// states-only look reads each on its own; past it, it takes a full look.
const READ_ONE_BY_ONE_UP_TO: usize = 16;

/// bgpd's JSON answer to `command`, parsed on a blocking thread: at 2,099
/// neighbors the summary is about 1 MB and the full listing 4.2 MB, tens
/// of milliseconds of parsing during which a look that may give way to a
/// datastore change ([`rrd_core::BgpEngine::looks_may_give_way`]) could
/// not, having no await to stop at.
async fn parse_off_the_loop(command: &str, text: String) -> Result<serde_json::Value, FrrError> {
    let decode = |detail: String| FrrError::Decode {
        command: command.to_owned(),
        detail,
    };
    tokio::task::spawn_blocking(move || serde_json::from_str::<serde_json::Value>(&text))
        .await
        .map_err(|e| decode(format!("the parsing task failed: {e}")))?
        .map_err(|e| decode(e.to_string()))
}

impl FrrEngine {
    pub(super) async fn observe_inner(&mut self) -> Result<Observation, FrrError> {
        let down = |reason: String| Observation {
            daemon: DaemonState::Down { reason },
            sessions: Vec::new(),
        };
        if self.managed_and_down() {
            self.forget_looks();
            return Ok(down(
                "bgpd is not running (rrd starts it with the first configuration)".into(),
            ));
        }
        let mut vty = match self.vty().await {
            Ok(v) => v,
            Err(e) => {
                self.forget_looks();
                return Ok(down(e.to_string()));
            }
        };
        let v = self.config.view.clone();
        let generation = self.generation();
        let now = Instant::now();
        if self.full_look.as_ref().is_some_and(|l| l.too_old(now)) {
            self.full_look = None;
        }
        if !self
            .full_look
            .as_ref()
            .is_some_and(|l| l.current(generation, now))
        {
            // A look resumed after rrd's own applies: bgpd's peers are the
            // view rrd gave it (the same bgpd: its socket unchanged), so the
            // summary (18-40 ms of bgpd at 2,099 neighbors) is not asked
            // again for each change that made the look give way.
            let believed = self.full_look.as_ref().and_then(|_| self.believed_peers());
            let peers = match believed {
                Some(peers) => peers,
                None => {
                    let command = format!("show bgp view {v} summary json");
                    let r = vty.run(&command).await?;
                    if !r.ok() {
                        // No such view: bgpd runs without rrd's configuration.
                        self.forget_looks();
                        return Ok(Observation {
                            daemon: DaemonState::Unconfigured,
                            sessions: Vec::new(),
                        });
                    }
                    summary_peers(&parse_off_the_loop(&command, r.text).await?)
                }
            };
            match self.full_look.as_mut() {
                Some(look) => look.refresh(peers, generation),
                None => self.full_look = Some(FullLook::new(peers, generation, now)),
            }
        }
        // Window by window; what each read is kept at once, so that a look
        // dropped at an await (it gave way) goes on from there next time.
        while let Some(window) = self
            .full_look
            .as_ref()
            .map(|l| l.next_window().to_vec())
            .filter(|w| !w.is_empty())
        {
            let answers = read_neighbors(&mut vty, &v, &window).await?;
            if let Some(look) = self.full_look.as_mut() {
                look.window_read(answers);
            }
        }
        let neighbors = self.full_look.take().map_or(
            serde_json::Value::Object(Default::default()),
            FullLook::into_neighbors,
        );
        let mut best = std::collections::BTreeMap::new();
        for f in observe::families_to_count(&neighbors) {
            let afi = match f {
                rrd_core::Family::Ipv4 => "ipv4",
                rrd_core::Family::Ipv6 => "ipv6",
            };
            let command = format!("show bgp view {v} {afi} unicast json");
            let r = vty.run(&command).await?;
            if let Ok(table) = parse_off_the_loop(&command, r.text).await {
                observe::best_paths_by_peer(&table, &mut best);
            }
        }
        if self.version.is_none() {
            self.read_version(&mut vty).await;
        }
        if let Err(e) = self.correct_originators(&mut vty, &neighbors).await {
            tracing::warn!(error = %e, "could not correct the ORIGINATOR_ID route maps");
        }
        let sessions = observe::sessions(&neighbors, &best);
        self.listing.listed(&sessions, best);
        Ok(Observation {
            daemon: DaemonState::Running,
            sessions,
        })
    }

    /// The states-only look: `show bgp view <v> summary json` merged into
    /// the last full look ([`crate::states`]); the sessions new or changed
    /// since read on their own, or a full look when many are.
    pub(super) async fn observe_states_inner(&mut self) -> Result<Observation, FrrError> {
        if self.listing.is_empty() || self.managed_and_down() {
            return self.observe_inner().await;
        }
        let Ok(mut vty) = self.vty().await else {
            return self.observe_inner().await;
        };
        let v = self.config.view.clone();
        let command = format!("show bgp view {v} summary json");
        let r = vty.run(&command).await?;
        if !r.ok() {
            return self.observe_inner().await;
        }
        let summary = parse_off_the_loop(&command, r.text).await?;
        let merged = self.listing.merge(&summary);
        if merged.unlisted.len() > READ_ONE_BY_ONE_UP_TO {
            return self.observe_inner().await;
        }
        let read = serde_json::Value::Object(read_neighbors(&mut vty, &v, &merged.unlisted).await?);
        if !merged.unlisted.is_empty() {
            if let Err(e) = self.correct_originators(&mut vty, &read).await {
                tracing::warn!(error = %e, "could not correct the ORIGINATOR_ID route maps");
            }
        }
        let read = observe::sessions(&read, self.listing.best_from_peer());
        Ok(Observation {
            daemon: DaemonState::Running,
            sessions: self.listing.update(merged.sessions, read),
        })
    }

    /// The router ids a migration's source observed that differ from
    /// what would be rendered: learned and kept as if bgpd had seen them,
    /// so that the first apply renders them.
    pub(super) fn carry_over_inner(
        &mut self,
        source: &Observation,
        desired: &RrConfig,
    ) -> Result<(), FrrError> {
        if !self.config.set_originator_id {
            return Ok(());
        }
        let found = originator::carried_over(source, desired, &self.learned);
        for m in &found {
            tracing::debug!(
                session = %m.session,
                address = %m.address,
                rendered = ?m.rendered,
                observed = %m.observed,
                "router id carried over from the migration's source"
            );
        }
        tracing::info!(
            count = found.len(),
            "carried over the client router ids the migration's source observed that differ from the default"
        );
        if self.learned.update(&found, desired) {
            self.save_learned()?;
        }
        Ok(())
    }

    /// bgpd is gone or holds no view: the next look starts from nothing.
    fn forget_looks(&mut self) {
        self.listing.forget();
        self.full_look = None;
    }

    pub(super) fn save_learned(&self) -> Result<(), FrrError> {
        let path = self.config.router_ids_path();
        self.learned
            .save(&path)
            .map_err(|source| FrrError::Write { path, source })
    }

    /// Clients whose OPEN named another router id than the one rendered
    /// into their ORIGINATOR_ID route map: learn it, say so, and change
    /// their route maps in place (route refresh; sessions stay up).
    pub(super) async fn correct_originators(
        &mut self,
        vty: &mut Vty,
        neighbors: &serde_json::Value,
    ) -> Result<(), FrrError> {
        if !self.config.set_originator_id {
            return Ok(());
        }
        if self.applied.is_none() {
            self.applied = read_record(&self.config.record_path());
        }
        let Some(record) = self.applied.clone() else {
            return Ok(());
        };
        let found = originator::mismatches(neighbors, &record, &self.learned);
        if found.is_empty() {
            return Ok(());
        }
        let Some(live) = self.running_view(vty).await? else {
            return Ok(());
        };
        // Only while bgpd runs what rrd applied: otherwise the next apply
        // decides.
        if self.view_of(&record).ok().as_ref() != Some(&live) {
            return Ok(());
        }
        for m in &found {
            tracing::warn!(
                session = %m.session,
                address = %m.address,
                rendered = ?m.rendered,
                observed = %m.observed,
                "the client's BGP identifier is not the ORIGINATOR_ID rrd set on its routes: using the observed one"
            );
        }
        self.learned.update(&found, &record);
        self.save_learned()?;
        let view = self.view_of(&record)?;
        let commands = delta::commands(Some(&live), &view);
        self.configure(vty, &commands, Some(&live), &view).await?;
        self.verify(&view).await?;
        let text = file_text(&view, &record);
        self.record(&record, Some(&text))
    }
}

#[cfg(test)]
mod tests;
