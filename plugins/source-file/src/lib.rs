//! File source: the canonical topology written out as TOML (or YAML), the
//! embedded default for a first run, for labs and for tests.
//!
//! [`format`] decodes the file (errors carry line and key), [`FileSource`]
//! implements [`rrd_core::PeerSource`] by polling the file: a change yields the
//! diff against the last good topology; a partial write or an invalid file
//! keeps the last good topology and is reported as a rejection naming the
//! file, line and key.

pub mod format;
mod source;

pub use format::{parse, FormatError};
pub use source::{FileConfig, FileLayout, FileSource, EMPTY_MARKER};
