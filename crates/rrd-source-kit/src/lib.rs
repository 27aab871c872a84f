//! What rrd's sources have in common, in one place: they sit at the start
//! of `source -> runtime -> engine` and each talks to its datastore its own
//! way, but they retry, load TLS files, build HTTP clients and report
//! failures alike.
//!
//! * [`Backoff`] — exponential backoff with jitter for every reconnect;
//! * [`TlsFiles`], [`read_file`] — CA, client certificate and key (and
//!   password or token files) read from the paths a source's configuration
//!   names (again on every connect, so rotated files are picked up);
//! * [`http_client`] — the reqwest + rustls client of the HTTP sources
//!   (etcd v2 API, Consul) with those files;
//! * [`source_error`] — a source's own error as a [`rrd_core::SourceError`]
//!   (retryable: unreachable; otherwise: invalid), and [`chain`] for a
//!   cause chain in one line.
//!
//! The test event recorder sits beside the conformance suites, in
//! `rrd_core::testing::recorder`.

mod backoff;
mod error;
mod http;
mod tls;

pub use backoff::Backoff;
pub use error::{chain, source_error, KitError, Retryable};
pub use http::{http_client, HttpOptions};
pub use tls::{read_file, read_text, TlsFiles, TlsPaths};
