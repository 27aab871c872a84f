//! `RrConfig` -> BIRD configuration text. Pure: no I/O, no clock, no
//! hash-map order, so the same `RrConfig` always gives the same bytes and an
//! unchanged datastore never rewrites the file.
//!
//! Sits at the engine end of source -> runtime -> engine: the engine
//! renders, compares with the live file, and only then checks and applies.
//! The layout follows the calico/routereflector image's `bird.cfg` (the
//! seed): `router id`, `protocol device`, a `bgp_template`, then one
//! `protocol bgp <PeerKey> from bgp_template` per session, grouped as the
//! image grouped them (RR mesh, global peers, node-specific peers).
//!
//! Template policy: the template holds what the image put there (multihop,
//! import/export all, the RR's own source address, graceful restart);
//! a session only spells out where it differs. BIRD compares the *resolved*
//! options of each protocol on `configure`, so moving a value between the
//! template and a protocol never restarts a session by itself.
//!
//! Listening (what a real RR needs): by default BIRD listens on every
//! address, port 179 (or `RouterSettings::listen_port`), like the image —
//! clients reach the RR at whatever address they were given. With
//! [`RenderOptions::strict_bind`] the listener is bound to the RR's own
//! address: BIRD 2 `strict bind on` in each template that has a source
//! address (BIRD refuses strict bind without one), BIRD 1.6 the global
//! `listen bgp address A [port P]`. A 1.6 listener change needs a daemon
//! restart (BIRD only warns on `configure`).

mod protocol;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::net::IpAddr;

use rrd_core::{Family, Neighbor, PeerKey, RrConfig};

use crate::config::{BirdConfig, BirdVersion};

/// What the renderer needs besides the `RrConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    pub version: BirdVersion,
    /// The `debug` clause of each BGP template (see `BirdConfig::debug`).
    pub debug: String,
    /// Bind the BGP listener to the RR's own addresses.
    pub strict_bind: bool,
    /// `log stderr all;`: a daemon rrd runs itself logs to rrd (its stderr
    /// is forwarded to `tracing`); an external one keeps its own logging.
    pub log_stderr: bool,
    /// `log "FILE" all;` instead (see `BirdConfig::log_file`).
    pub log_file: Option<std::path::PathBuf>,
}

impl RenderOptions {
    /// Defaults of [`BirdConfig`] for `version`.
    pub fn new(version: BirdVersion) -> RenderOptions {
        RenderOptions::from(&BirdConfig {
            version,
            ..BirdConfig::default()
        })
    }
}

impl From<&BirdConfig> for RenderOptions {
    fn from(c: &BirdConfig) -> Self {
        RenderOptions {
            version: c.version,
            debug: c.debug.clone(),
            strict_bind: c.strict_bind,
            log_stderr: c.manage_process,
            log_file: c.log_file.clone(),
        }
    }
}

/// The rendered file(s): BIRD 2 has one file (`ipv4` holds both families,
/// `ipv6` is `None`); BIRD 1.6 has `bird.conf` (`ipv4`) and `bird6.conf`
/// (`ipv6`, always present so that `bird6` never keeps stale sessions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub ipv4: String,
    pub ipv6: Option<String>,
}

/// Why an `RrConfig` cannot be written as a BIRD configuration. These are
/// properties of the desired config, so retrying does not help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("session name {0:?} is not a BIRD symbol (letters, digits and '_', not starting with a digit, at most 64 characters)")]
    InvalidName(PeerKey),
    #[error(
        "session {0}: the password contains a '\"' or a line break, which BIRD strings cannot hold"
    )]
    InvalidPassword(PeerKey),
    #[error("session {key}: BIRD 1.6 runs one daemon per family and cannot carry {family} over a session to {address}")]
    FamilyNotCarried {
        key: PeerKey,
        family: Family,
        address: IpAddr,
    },
    #[error("debug clause {0:?}: {1}")]
    InvalidDebug(String, String),
}

/// Render `config` for the BIRD release in `options`.
pub fn render(config: &RrConfig, options: &RenderOptions) -> Result<Rendered, RenderError> {
    check_debug_clause(&options.debug)
        .map_err(|m| RenderError::InvalidDebug(options.debug.clone(), m))?;
    for (key, n) in &config.neighbors {
        validate(key, n, options.version)?;
    }
    Ok(match options.version {
        BirdVersion::V2 => Rendered {
            ipv4: file(config, options, None),
            ipv6: None,
        },
        BirdVersion::V1_6 => Rendered {
            ipv4: file(config, options, Some(Family::Ipv4)),
            ipv6: Some(file(config, options, Some(Family::Ipv6))),
        },
    })
}

/// Accept `all`, `off`, or `{ word, word }` with BIRD's debug class names;
/// anything else could inject configuration.
pub fn check_debug_clause(clause: &str) -> Result<(), String> {
    const CLASSES: [&str; 6] = [
        "states",
        "routes",
        "filters",
        "interfaces",
        "events",
        "packets",
    ];
    let t = clause.trim();
    if t == "all" || t == "off" {
        return Ok(());
    }
    let inner = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| "expected all, off or { states, routes, ... }".to_owned())?;
    for word in inner.split(',').map(str::trim) {
        if !CLASSES.contains(&word) {
            return Err(format!(
                "unknown debug class {word:?} (expected one of {})",
                CLASSES.join(", ")
            ));
        }
    }
    Ok(())
}

fn validate(key: &PeerKey, n: &Neighbor, version: BirdVersion) -> Result<(), RenderError> {
    let name = key.0.as_str();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("bgp_template");
    if !valid {
        return Err(RenderError::InvalidName(key.clone()));
    }
    if let Some(p) = &n.password {
        if p.expose().contains(['"', '\n', '\r']) {
            return Err(RenderError::InvalidPassword(key.clone()));
        }
    }
    if version == BirdVersion::V1_6 {
        if let Some(other) = n.families.iter().find(|f| **f != n.family()) {
            return Err(RenderError::FamilyNotCarried {
                key: key.clone(),
                family: *other,
                address: n.address,
            });
        }
    }
    Ok(())
}

/// One configuration file: for BIRD 1.6 the daemon of `only` family, for
/// BIRD 2 (`only == None`) everything.
fn file(config: &RrConfig, options: &RenderOptions, only: Option<Family>) -> String {
    let r = &config.router;
    let mut out = String::new();
    let daemon = match (options.version, only) {
        (BirdVersion::V1_6, Some(Family::Ipv6)) => "BIRD 1.6, bird6",
        (BirdVersion::V1_6, _) => "BIRD 1.6, bird",
        (BirdVersion::V2, _) => "BIRD 2",
    };
    let _ = writeln!(
        out,
        "# Generated by rrd for route reflector {} ({daemon}); do not edit:\n\
         # rrd replaces this file whenever the datastore changes.",
        r.router_id
    );
    let _ = writeln!(out, "router id {};", r.router_id);
    if let Some(file) = &options.log_file {
        let _ = writeln!(
            out,
            "log \"{}\" all;   # engine.bird.log_file",
            file.display()
        );
    } else if options.log_stderr {
        out.push_str("log stderr all;   # rrd runs this daemon and forwards its log\n");
    }
    if options.version == BirdVersion::V1_6 {
        let addr = match only {
            Some(Family::Ipv6) => r.ipv6.map(IpAddr::V6),
            _ => r.ipv4.map(IpAddr::V4),
        };
        let addr = addr.filter(|_| options.strict_bind);
        match (addr, r.listen_port) {
            (Some(a), Some(p)) => {
                let _ = writeln!(out, "listen bgp address {a} port {p};");
            }
            (Some(a), None) => {
                let _ = writeln!(out, "listen bgp address {a};");
            }
            (None, Some(p)) => {
                let _ = writeln!(out, "listen bgp port {p};");
            }
            (None, None) => {}
        }
    }
    out.push_str(
        "\n# Watch interface up/down events.\n\
         protocol device {\n  scan time 2;    # Scan interfaces every 2 seconds\n}\n",
    );

    let families: Vec<Family> = match only {
        Some(f) => vec![f],
        None => [Family::Ipv4, Family::Ipv6]
            .into_iter()
            .filter(|f| {
                protocol::router_address(config, *f).is_some()
                    || config.neighbors_of(*f).next().is_some()
                    // The seed's template is there even with no sessions.
                    || *f == Family::Ipv4
            })
            .collect(),
    };
    for family in &families {
        for t in protocol::templates(config, options, *family) {
            out.push('\n');
            out.push_str(&t);
        }
    }

    for (kind, title) in [
        (rrd_core::SessionKind::Mesh, "RR-to-RR full mesh"),
        (rrd_core::SessionKind::Global, "RR as a global peer"),
        (rrd_core::SessionKind::Node, "RR as a node-specific peer"),
    ] {
        let _ = writeln!(out, "\n# ------------- {title} -------------");
        let mut any = false;
        for (key, n) in &config.neighbors {
            if n.kind != kind || only.is_some_and(|f| f != n.family()) {
                continue;
            }
            any = true;
            out.push('\n');
            out.push_str(&protocol::protocol(config, options, key, n));
        }
        if !any {
            out.push_str("# (none)\n");
        }
    }
    out
}
