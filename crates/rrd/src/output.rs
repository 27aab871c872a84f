//! Everything a command prints on stdout goes through here: `-o
//! table|json|yaml`, and a closed pipe (`rrd check | head -1`) that ends the
//! command quietly instead of panicking as `println!` would.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::OutputFormat;

/// Write `text` to stdout. A reader that went away is not an error of
/// ours: [`is_closed_pipe`] lets `main` exit quietly.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Print `value` as one JSON or YAML document, or `table` (already
/// rendered for people) for [`OutputFormat::Table`].
pub fn emit<T: Serialize>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Table => table(),
        OutputFormat::Json => serde_json::to_string_pretty(value)? + "\n",
        OutputFormat::Yaml => serde_yaml::to_string(value)?,
    };
    print(&text)?;
    Ok(())
}

/// Whether `error` is stdout's reader having gone away (EPIPE).
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
