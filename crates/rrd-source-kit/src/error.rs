//! Errors of the shared pieces, and one mapping of every source's errors to
//! the [`SourceError`] the runtime and the CLI see.

use std::path::PathBuf;

use rrd_core::SourceError;

/// Loading TLS files or building a client failed.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("cannot read {what} {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup ({what}): {source}")]
    Tls {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A source error that knows whether trying again later may help.
pub trait Retryable: std::error::Error + Send + Sync + 'static {
    /// Transport trouble, timeouts, a datastore that is not ready: yes.
    /// A configuration, credential or argument mistake: no.
    fn is_retryable(&self) -> bool;
}

/// `e` as the runtime sees it: retryable errors make the datastore
/// unreachable (the cause is kept), the others make it invalid.
pub fn source_error<E: Retryable>(location: String, e: E) -> SourceError {
    if e.is_retryable() {
        SourceError::Unreachable {
            location,
            detail: e.to_string(),
            source: Some(Box::new(e)),
        }
    } else {
        SourceError::Invalid {
            location,
            detail: e.to_string(),
        }
    }
}

/// An error and its causes, `: `-separated, each cause once (HTTP clients'
/// own messages rarely say which of connect, TLS or reset failed).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text = format!("{text}: {t}");
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error, bool);

    impl Retryable for Outer {
        fn is_retryable(&self) -> bool {
            self.1
        }
    }

    #[test]
    fn retryable_errors_are_unreachable_and_the_others_invalid() {
        let io = || std::io::Error::other("inner");
        let e = source_error("here".into(), Outer(io(), true));
        assert!(matches!(
            e,
            SourceError::Unreachable {
                source: Some(_),
                ..
            }
        ));
        let e = source_error("here".into(), Outer(io(), false));
        assert!(matches!(e, SourceError::Invalid { .. }));
        assert_eq!(e.to_string(), "here: outer");
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        assert_eq!(
            chain(&Outer(std::io::Error::other("inner"), true)),
            "outer: inner"
        );
    }
}
