//! The engine's files: the live BIRD configuration(s), staged copies next
//! to them, and the `<config_path>.rrd.json` record of the last applied
//! `RrConfig`.
//!
//! Sits inside the engine's apply: a new configuration is written to a
//! temporary file in the live file's directory (same filesystem, same mode
//! and owner, so the daemon can read it for `configure "..."`), and only
//! after BIRD loaded it is it renamed over the live file.
//!
//! Crash safety with one fsync per changed file: the staged bytes are
//! flushed (`fdatasync`, on a blocking thread while BIRD parses the same
//! bytes from the page cache) before the rename, so a crash or power loss
//! leaves the old or the new file under the live name, never half of one.
//! The rename itself and the record are not forced to disk: losing either
//! to a power loss only makes the next rrd find a record that does not
//! render to the live file, which it treats as "nothing known to be
//! loaded" and answers with a full apply of an identical file.
//!
//! [`FileStamp`] (device, inode, size, mtime, ctime) tells whether a live
//! file is still the one the engine wrote, without reading it.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rrd_core::RrConfig;
use tempfile::NamedTempFile;
use tokio::task::JoinHandle;

use crate::error::BirdError;

/// Mode of a config file rrd creates: BIRD may run as its own user with
/// the file's group (Debian: `bird:bird`, 0640).
const NEW_FILE_MODE: u32 = 0o640;
/// The record holds passwords as the config files do; only rrd reads it.
const SIDECAR_MODE: u32 = 0o600;

/// A file's identity on disk. Any rename over it, write to it or change of
/// its mode changes at least one field; reading it needs no file content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The live file's stamp; `None` when there is none.
pub fn stamp(path: &Path) -> Result<Option<FileStamp>, BirdError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(FileStamp::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BirdError::ReadConfig {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The live file's bytes; `None` when there is none yet.
pub fn read_live(path: &Path) -> Result<Option<Vec<u8>>, BirdError> {
    Ok(read_live_stamped(path)?.map(|(bytes, _)| bytes))
}

/// The live file's bytes and the stamp of the file they were read from
/// (taken from the open file, so the two belong together).
pub fn read_live_stamped(path: &Path) -> Result<Option<(Vec<u8>, FileStamp)>, BirdError> {
    let wrap = |source| BirdError::ReadConfig {
        path: path.to_owned(),
        source,
    };
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(wrap(e)),
    };
    let meta = file.metadata().map_err(wrap)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.size()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(wrap)?;
    Ok(Some((bytes, FileStamp::of(&meta))))
}

/// A new version of a live file, written beside it and not yet in place.
/// Dropping it deletes the temporary file.
#[derive(Debug)]
pub struct Staged {
    tmp: NamedTempFile,
    live: PathBuf,
    /// The flush started by [`Staged::flush_in_background`].
    flushing: Option<JoinHandle<io::Result<()>>>,
}

impl Staged {
    /// Write `bytes` to `.<name>.<random>.rrd-tmp` in `live`'s directory,
    /// with `live`'s mode and owner (or `new_mode`, else 0640, for a new
    /// file). Not flushed yet: see [`Staged::commit`].
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
        Ok(Staged {
            tmp,
            live: live.to_owned(),
            flushing: None,
        })
    }

    /// Start flushing the staged bytes to disk on a blocking thread, so
    /// that the flush overlaps with BIRD reading the file. Needs a tokio
    /// runtime; [`Staged::commit`] waits for it.
    pub fn flush_in_background(&mut self) -> Result<(), BirdError> {
        let file = self
            .tmp
            .as_file()
            .try_clone()
            .map_err(|source| BirdError::WriteConfig {
                path: self.live.clone(),
                source,
            })?;
        self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        Ok(())
    }

    /// Where the staged copy is (for `configure "..."`).
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

    /// Rename over the live file once the bytes are on disk (flushed now
    /// unless [`Staged::flush_in_background`] already started it).
    pub async fn commit(mut self) -> Result<(), BirdError> {
        let wrap = |source| BirdError::WriteConfig {
            path: self.live.clone(),
            source,
        };
        let flushed = match self.flushing.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(io::Error::other(e))),
            None => self.tmp.as_file().sync_data(),
        };
        flushed.map_err(wrap)?;
        self.rename()
    }

    /// Rename over the live file without flushing (the record: a cache
    /// that is checked whenever it is read).
    fn rename(self) -> Result<(), BirdError> {
        let live = self.live;
        self.tmp
            .persist(&live)
            .map(drop)
            .map_err(|e| BirdError::WriteConfig {
                path: live.clone(),
                source: e.error,
            })
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replace `path` with `bytes` atomically, or remove it for `None` (used to
/// put the previous live file back).
pub async fn restore(path: &Path, bytes: Option<&[u8]>) -> Result<(), BirdError> {
    match bytes {
        Some(b) => Staged::write(path, b, None)?.commit().await,
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

/// Record `config` as applied: atomically replaced, not flushed.
pub fn write_record(path: &Path, config: &RrConfig) -> Result<(), BirdError> {
    let json = serde_json::to_vec_pretty(config).map_err(|e| BirdError::WriteConfig {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    Staged::write(path, &json, Some(SIDECAR_MODE))?.rename()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staged_file_replaces_the_live_file_only_on_commit_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        fs::write(&live, "old").unwrap();
        fs::set_permissions(&live, fs::Permissions::from_mode(0o604)).unwrap();
        let mut staged = Staged::write(&live, b"new", None).unwrap();
        staged.flush_in_background().unwrap();
        assert_eq!(staged.path().parent(), Some(dir.path()));
        assert_eq!(fs::read_to_string(staged.path()).unwrap(), "new");
        assert_eq!(fs::read_to_string(&live).unwrap(), "old");
        staged.commit().await.unwrap();
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

    #[tokio::test]
    async fn restore_puts_back_or_removes() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        fs::write(&live, "new").unwrap();
        restore(&live, Some(b"old")).await.unwrap();
        assert_eq!(fs::read(&live).unwrap(), b"old");
        restore(&live, None).await.unwrap();
        assert!(!live.exists());
        restore(&live, None).await.unwrap();
    }

    #[tokio::test]
    async fn a_stamp_changes_with_every_replacement_or_edit_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("bird.conf");
        assert_eq!(stamp(&live).unwrap(), None);
        Staged::write(&live, b"one", None)
            .unwrap()
            .commit()
            .await
            .unwrap();
        let (bytes, first) = read_live_stamped(&live).unwrap().unwrap();
        assert_eq!(bytes, b"one");
        assert_eq!(stamp(&live).unwrap(), Some(first), "unchanged file");
        // Same size, same content, new inode: a rename over it.
        Staged::write(&live, b"one", None)
            .unwrap()
            .commit()
            .await
            .unwrap();
        let renamed = stamp(&live).unwrap().unwrap();
        assert_ne!(renamed, first);
        // Same inode, same size: an edit in place moves ctime.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&live, b"two").unwrap();
        assert_ne!(stamp(&live).unwrap(), Some(renamed));
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
