//! The engine's files: the live BIRD configuration(s), staged copies next
//! to them, and the `<config_path>.rrd.json` record of the last applied
//! `RrConfig`.
//!
//! Sits inside the engine's apply: a new configuration is written to a
//! temporary file in the live file's directory (same filesystem, same mode
//! and owner, so the daemon can read it for `configure check`), and only
//! after BIRD accepted it is it renamed over the live file. Every write is
//! atomic (temp file + fsync + rename + fsync of the directory): a crash
//! leaves either the old or the new file, never half of one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rrd_core::RrConfig;
use tempfile::NamedTempFile;

use crate::error::BirdError;

/// Mode of a config file rrd creates: BIRD may run as its own user with
/// the file's group (Debian: `bird:bird`, 0640).
const NEW_FILE_MODE: u32 = 0o640;
/// The record holds passwords as the config files do; only rrd reads it.
const SIDECAR_MODE: u32 = 0o600;

/// The live file's bytes; `None` when there is none yet.
pub fn read_live(path: &Path) -> Result<Option<Vec<u8>>, BirdError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BirdError::ReadConfig {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A new version of a live file, written beside it and not yet in place.
/// Dropping it deletes the temporary file.
#[derive(Debug)]
pub struct Staged {
    tmp: NamedTempFile,
    live: PathBuf,
}

impl Staged {
    /// Write `bytes` to `.<name>.<random>.rrd-tmp` in `live`'s directory,
    /// with `live`'s mode and owner (or 0640 for a new file).
    pub fn write(live: &Path, bytes: &[u8], new_mode: Option<u32>) -> Result<Staged, BirdError> {
        let wrap = |source| BirdError::WriteConfig {
            path: live.to_owned(),
            source,
        };
        let dir = parent(live);
        let name = live
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".rrd-tmp")
            .tempfile_in(dir)
            .map_err(wrap)?;
        tmp.write_all(bytes).map_err(wrap)?;
        match fs::metadata(live) {
            Ok(meta) => {
                let f = tmp.as_file();
                f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
                    .map_err(wrap)?;
                // Only root may give a file away; otherwise it stays ours.
                if let Err(e) = std::os::unix::fs::fchown(f, Some(meta.uid()), Some(meta.gid())) {
                    tracing::debug!(file = %live.display(), error = %e, "cannot keep the owner of the config file");
                }
            }
            Err(_) => {
                let mode = new_mode.unwrap_or(NEW_FILE_MODE);
                tmp.as_file()
                    .set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(wrap)?;
            }
        }
        tmp.as_file().sync_all().map_err(wrap)?;
        Ok(Staged {
            tmp,
            live: live.to_owned(),
        })
    }

    /// Where the staged copy is (for `configure check "..."`).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Keep the staged copy at `path` (a refused config, for the operator
    /// to read), never over the live file.
    pub fn keep_as(self, path: &Path) -> Result<(), BirdError> {
        self.tmp
            .persist(path)
            .map(drop)
            .map_err(|e| BirdError::WriteConfig {
                path: path.to_owned(),
                source: e.error,
            })
    }

    /// Rename over the live file.
    pub fn commit(self) -> Result<(), BirdError> {
        let live = self.live;
        self.tmp
            .persist(&live)
            .map_err(|e| BirdError::WriteConfig {
                path: live.clone(),
                source: e.error,
            })?;
        sync_dir(&live);
        Ok(())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(path: &Path) {
    if let Ok(d) = fs::File::open(parent(path)) {
        let _ = d.sync_all();
    }
}

/// Replace `path` with `bytes` atomically, or remove it for `None` (used to
/// put the previous live file back).
pub fn restore(path: &Path, bytes: Option<&[u8]>) -> Result<(), BirdError> {
    match bytes {
        Some(b) => Staged::write(path, b, None)?.commit(),
        None => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(BirdError::WriteConfig {
                path: path.to_owned(),
                source,
            }),
        },
    }
}

/// The `RrConfig` recorded by the last successful apply, if readable.
pub fn read_record(path: &Path) -> Option<RrConfig> {
    rrd_process::record::read_json(path)
}

/// Record `config` as applied.
pub fn write_record(path: &Path, config: &RrConfig) -> Result<(), BirdError> {
    let json = serde_json::to_vec_pretty(config).map_err(|e| BirdError::WriteConfig {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    let staged = Staged::write(path, &json, Some(SIDECAR_MODE))?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_file_replaces_the_live_file_only_on_commit_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        fs::write(&live, "old").unwrap();
        fs::set_permissions(&live, fs::Permissions::from_mode(0o604)).unwrap();
        let staged = Staged::write(&live, b"new", None).unwrap();
        assert_eq!(staged.path().parent(), Some(dir.path()));
        assert_eq!(fs::read_to_string(staged.path()).unwrap(), "new");
        assert_eq!(fs::read_to_string(&live).unwrap(), "old");
        staged.commit().unwrap();
        assert_eq!(fs::read_to_string(&live).unwrap(), "new");
        assert_eq!(fs::metadata(&live).unwrap().mode() & 0o777, 0o604);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn dropped_staged_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        let staged = Staged::write(&live, b"x", None).unwrap();
        let tmp = staged.path().to_owned();
        drop(staged);
        assert!(!tmp.exists());
        assert_eq!(read_live(&live).unwrap(), None);
    }

    #[test]
    fn restore_puts_back_or_removes() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        fs::write(&live, "new").unwrap();
        restore(&live, Some(b"old")).unwrap();
        assert_eq!(fs::read(&live).unwrap(), b"old");
        restore(&live, None).unwrap();
        assert!(!live.exists());
        restore(&live, None).unwrap();
    }

    #[test]
    fn record_round_trips_and_garbage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.conf.rrd.json");
        assert!(read_record(&path).is_none());
        let t = rrd_core::testing::fixtures::seed();
        let c = rrd_core::compute(
            &t,
            &rrd_core::RrIdentity::v4("172.17.42.40".parse().unwrap()),
        )
        .unwrap()
        .config;
        write_record(&path, &c).unwrap();
        assert_eq!(read_record(&path), Some(c));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        fs::write(&path, "{not json").unwrap();
        assert!(read_record(&path).is_none());
    }
}
