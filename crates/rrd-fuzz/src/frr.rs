//! What bgpd shows, as the FRR engine reads it: `show bgp view <v>
//! neighbors json` and a table's JSON ([`rrd_engine_frr::observe`]), and
//! the view in `show running-config` ([`rrd_engine_frr::view::View::parse`],
//! [`rrd_engine_frr::readback::config_of`]).
//!
//! Input: one byte choosing the form (even: JSON, odd: running config),
//! then for JSON the neighbors document, optionally a NUL byte and a table
//! document. Checked: one session per neighbor with an address key, in
//! key order; a view that holds only lines rrd writes reads back the same
//! after being written out as text.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rrd_engine_frr::observe;
use rrd_engine_frr::readback::config_of;
use rrd_engine_frr::view::View;
use serde_json::Value;

/// The view name the seeds use (rrd's default).
const VIEW: &str = "rrd";

pub fn run(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    if choice % 2 == 1 {
        running_config(rest);
    } else {
        json(rest);
    }
}

fn json(data: &[u8]) {
    let (neighbors, table) = crate::split_nul(data);
    let Ok(neighbors) = serde_json::from_slice::<Value>(neighbors) else {
        return;
    };
    let mut best: BTreeMap<IpAddr, u64> = BTreeMap::new();
    if let Ok(table) = serde_json::from_slice::<Value>(table) {
        observe::best_paths_by_peer(&table, &mut best);
    }
    let _ = observe::families_to_count(&neighbors);
    let sessions = observe::sessions(&neighbors, &best);
    let addressed = neighbors.as_object().map_or(0, |m| {
        m.keys().filter(|k| k.parse::<IpAddr>().is_ok()).count()
    });
    assert_eq!(sessions.len(), addressed);
    assert!(sessions.windows(2).all(|w| w[0].key <= w[1].key));
}

fn running_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(view) = View::parse(text, VIEW) else {
        return;
    };
    let _ = config_of(&view, None);
    if view.other.is_empty() {
        let written = view.text();
        assert_eq!(
            View::parse(&written, VIEW).as_ref(),
            Some(&view),
            "the view written as\n{written}"
        );
    }
}
