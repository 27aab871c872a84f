//! What the engine last applied, kept in memory so that an apply renders
//! the desired configuration once and reads nothing back from disk, and
//! recorded in `<config_path>.rrd.json` for the next rrd.
//!
//! Sits inside the engine: [`Loaded`] is the engine's belief "the live
//! file(s) hold these texts, rendered from this `RrConfig`, and the
//! daemon(s) loaded them". It is set by a successful apply, or at start /
//! adoption / after an outside edit by reading the live files and the
//! record from disk (believed only when the record renders to exactly the
//! live files). Between applies it is trusted while every live file keeps
//! the [`FileStamp`] it had; any rename over it or edit of it drops the
//! belief, and the next apply reads the disk again.
//!
//! [`RecordWriter`] writes the record on a thread of its own, off the
//! apply path: the newest queued record wins, and dropping the writer
//! finishes the pending write (a restarted engine in the same process
//! reads it). A record lost to a crash before it was written is harmless:
//! the next rrd finds a record that does not render to the live file and
//! applies the (identical) file again.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rrd_core::RrConfig;

use crate::error::BirdError;
use crate::files::{self, FileStamp};

/// One live file as the engine left it.
#[derive(Debug)]
pub struct LiveFile {
    pub text: String,
    pub stamp: FileStamp,
}

/// The configuration the daemon(s) loaded and the live file(s) it was
/// rendered to, one per side.
#[derive(Debug)]
pub struct Loaded {
    pub config: Arc<RrConfig>,
    pub files: Vec<LiveFile>,
}

impl Loaded {
    /// Whether every live file (`paths`, one per side) is still the one
    /// this describes: one `stat` per side.
    pub fn still_live<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a Path>,
    ) -> Result<bool, BirdError> {
        for (file, path) in self.files.iter().zip(paths) {
            if files::stamp(path)? != Some(file.stamp) {
                tracing::info!(file = %path.display(), "the live BIRD file changed outside rrd; reading it again");
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Writes `<config_path>.rrd.json` off the apply path.
#[derive(Debug)]
pub struct RecordWriter {
    path: PathBuf,
    queue: Option<(mpsc::Sender<Arc<RrConfig>>, JoinHandle<()>)>,
}

impl RecordWriter {
    pub fn new(path: PathBuf) -> RecordWriter {
        RecordWriter { path, queue: None }
    }

    /// Record `config` as applied, soon. A record queued after it before
    /// the writer gets to it replaces it.
    pub fn record(&mut self, config: Arc<RrConfig>) {
        if let Some((tx, _)) = &self.queue {
            if tx.send(config.clone()).is_ok() {
                return;
            }
            // The writer thread is gone (it panicked): start another.
            self.flush();
        }
        let (tx, rx) = mpsc::channel::<Arc<RrConfig>>();
        let path = self.path.clone();
        let spawned = std::thread::Builder::new()
            .name("bird-record".into())
            .spawn(move || {
                while let Ok(mut newest) = rx.recv() {
                    newest = rx.try_iter().last().unwrap_or(newest);
                    if let Err(e) = files::write_record(&path, &newest) {
                        tracing::warn!(error = %e, "cannot record the applied configuration; the next rrd applies it again");
                    }
                }
            });
        match spawned {
            Ok(thread) => {
                // The receiver is alive until the sender is dropped.
                let _ = tx.send(config);
                self.queue = Some((tx, thread));
            }
            Err(e) => {
                tracing::debug!(error = %e, "no record thread; recording on the apply path");
                if let Err(e) = files::write_record(&self.path, &config) {
                    tracing::warn!(error = %e, "cannot record the applied configuration; the next rrd applies it again");
                }
            }
        }
    }

    /// Wait until every queued record is on disk (before the record is
    /// read back, and when the engine goes away).
    pub fn flush(&mut self) {
        if let Some((tx, thread)) = self.queue.take() {
            drop(tx);
            if thread.join().is_err() {
                tracing::warn!(
                    "the record writer panicked; the next rrd applies the configuration again"
                );
            }
        }
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> RrConfig {
        let t = rrd_core::testing::fixtures::seed();
        let me = rrd_core::RrIdentity::v4("172.17.42.40".parse().unwrap());
        rrd_core::compute(&t, &me).unwrap().config
    }

    #[test]
    fn the_newest_record_is_on_disk_after_a_flush_and_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.conf.rrd.json");
        let a = Arc::new(seed());
        let mut fewer = seed();
        fewer.neighbors.pop_first();
        let b = Arc::new(fewer);
        assert_ne!(a, b);
        let mut w = RecordWriter::new(path.clone());
        w.record(a.clone());
        w.record(b.clone());
        w.flush();
        assert_eq!(files::read_record(&path).as_ref(), Some(&*b));
        w.record(a.clone());
        drop(w);
        assert_eq!(files::read_record(&path).as_ref(), Some(&*a));
    }
}
