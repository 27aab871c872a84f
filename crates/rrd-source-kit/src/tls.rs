//! TLS material from the files a source's configuration names
//! (`ca_file`, `cert_file`, `key_file`), as PEM bytes. Read on every
//! connect, so that rotated files are picked up; never printed.

use std::path::{Path, PathBuf};

use crate::error::KitError;

/// Read a file a configuration key names; the error names the key.
pub fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, KitError> {
    std::fs::read(path).map_err(|source| KitError::ReadFile {
        what,
        path: PathBuf::from(path),
        source,
    })
}

/// [`read_file`] as text (a password or token file).
pub fn read_text(what: &'static str, path: &Path) -> Result<String, KitError> {
    std::fs::read_to_string(path).map_err(|source| KitError::ReadFile {
        what,
        path: PathBuf::from(path),
        source,
    })
}

/// The configured paths (a certificate and its key go together; the
/// sources' config validation says so with the key's name).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsPaths<'a> {
    pub ca_file: Option<&'a Path>,
    pub cert_file: Option<&'a Path>,
    pub key_file: Option<&'a Path>,
}

impl TlsPaths<'_> {
    /// Whether any TLS file is configured.
    pub fn any(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// PEM bytes of the configured TLS files.
#[derive(Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<Vec<u8>>,
    /// (certificate, key)
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl TlsFiles {
    /// Read the files now; `None` when none is configured.
    pub fn load(paths: TlsPaths<'_>) -> Result<Option<TlsFiles>, KitError> {
        if !paths.any() {
            return Ok(None);
        }
        let read = read_file;
        let ca = paths.ca_file.map(|p| read("ca_file", p)).transpose()?;
        let identity = match (paths.cert_file, paths.key_file) {
            (Some(c), Some(k)) => Some((read("cert_file", c)?, read("key_file", k)?)),
            _ => None,
        };
        Ok(Some(TlsFiles { ca, identity }))
    }

    /// Certificate and key in one PEM buffer, as rustls-based clients
    /// take an identity.
    pub fn identity_pem(&self) -> Option<Vec<u8>> {
        self.identity.as_ref().map(|(cert, key)| {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            pem
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_loads_nothing_and_a_missing_file_is_named() {
        assert!(TlsFiles::load(TlsPaths::default()).unwrap().is_none());
        let e = TlsFiles::load(TlsPaths {
            ca_file: Some(Path::new("/nonexistent/ca.pem")),
            ..TlsPaths::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("ca_file /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn certificate_and_key_are_read_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, "CERT").unwrap();
        std::fs::write(&k, "KEY").unwrap();
        let t = TlsFiles::load(TlsPaths {
            cert_file: Some(&c),
            key_file: Some(&k),
            ..TlsPaths::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(t.identity_pem().unwrap(), b"CERT\nKEY");
        assert!(!format!("{t:?}").contains("KEY"));
    }
}
