//! What an engine keeps beside its daemon for the next rrd: the record of
//! the last configuration it applied (JSON), and files that hold session
//! passwords. Written atomically (temporary file, fsync, rename) and
//! privately (mode 0600); a record that cannot be read is logged and taken
//! as absent (it is a cache: the engine then re-plans from the daemon).

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The record at `path`, if it exists and reads as a `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the record of the applied configuration");
            return None;
        }
    };
    serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable record of the applied configuration"))
        .ok()
}

/// Write `value` as pretty JSON to `path` ([`write_private`]).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_private(path, &json)
}

/// Replace `path` with `bytes` atomically, mode 0600, creating its folder.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn a_record_is_written_privately_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/applied.json");
        write_json(&path, &vec!["a", "b"]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            read_json::<Vec<String>>(&path),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("state")).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_missing_or_unreadable_record_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("applied.json");
        assert_eq!(read_json::<Vec<String>>(&path), None);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(read_json::<Vec<String>>(&path), None);
    }
}
