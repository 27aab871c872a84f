//! Alert rules and the Grafana dashboard against the series rrd exports.

use std::collections::BTreeSet;
use std::process::Command;

use rrd_core::{PeerKey, SessionState, SessionStatus};
use rrd_runtime::metrics::Metrics;
use rrd_runtime::Status;

use super::{read, repo_path};

/// Every sample name rrd's `/metrics` can carry: families from the
/// exposition (histograms with their `_bucket`, `_sum`, `_count`).
fn exported() -> BTreeSet<String> {
    let m = Metrics::new("bird", "etcd");
    // One observed session, so that the per-peer families have samples.
    let session = SessionStatus {
        key: PeerKey("Global_198_51_100_21".into()),
        address: "198.51.100.21".parse().unwrap(),
        remote_as: None,
        state: SessionState::Established,
        since: None,
        info: String::new(),
        routes_received: Some(1),
        routes_sent: Some(1),
        peer_graceful_restart: Default::default(),
        rr_client: Some(true),
        recovery: Default::default(),
        peer_router_id: None,
    };
    m.observe_sessions(&[session], &Default::default());
    let text = rrd_runtime::metrics::classic(&m.render(&Status::default()));
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            } else {
                names.insert(name.to_owned());
            }
        }
    }
    assert!(names.len() > 20, "{names:?}");
    names
}

/// The `rrd_*` series names a PromQL expression uses.
fn series_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("rrd_") {
        let start = i + pos;
        let boundary = start == 0 || {
            let c = bytes[start - 1] as char;
            !(c.is_ascii_alphanumeric() || c == '_' || c == '"' || c == '$')
        };
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(expr.len(), |n| start + n);
        if boundary {
            out.push(expr[start..end].to_owned());
        }
        i = end;
    }
    out
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

fn check_exprs(what: &str, exprs: &[String], exported: &BTreeSet<String>) {
    assert!(!exprs.is_empty(), "{what}: no queries found");
    for expr in exprs {
        let used = series_in(expr);
        assert!(!used.is_empty(), "{what}: `{expr}` names no rrd series");
        for name in used {
            assert!(
                exported.contains(&name),
                "{what}: `{expr}` uses {name}, which rrd does not export; it does: {exported:?}"
            );
        }
    }
}

#[test]
fn every_dashboard_query_names_only_series_rrd_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("packaging/monitoring/rrd-dashboard.json")).expect("JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard["panels"], &mut exprs);
    // Query variables hold PromQL; a datasource variable's `query` is a type.
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            collect_exprs(&var["query"], &mut exprs);
        }
    }
    let panels = dashboard["panels"].as_array().unwrap();
    for p in panels {
        let mut own = Vec::new();
        collect_exprs(&p["targets"], &mut own);
        assert!(!own.is_empty(), "panel {} has no query", p["title"]);
    }
    check_exprs("dashboard", &exprs, &exported());
    println!("{} panels, {} queries checked", panels.len(), exprs.len());
}

#[test]
fn every_alert_names_only_series_rrd_exports() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("packaging/monitoring/rrd-alerts.yaml")).unwrap();
    let mut exprs = Vec::new();
    let mut alerts = BTreeSet::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_owned());
            alerts.insert(rule["alert"].as_str().unwrap().to_owned());
            // Queries in annotations, too.
            for text in rule["annotations"]
                .as_mapping()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for (i, _) in text.as_str().unwrap_or("").match_indices("query \"") {
                    let rest = &text.as_str().unwrap()[i + 7..];
                    exprs.push(rest[..rest.find('"').unwrap()].to_owned());
                }
            }
        }
    }
    for wanted in [
        "RrdNotReady",
        "RrdClientSessionDown",
        "RrdMassRemovalHeld",
        "RrdConfigRejected",
        "RrdDatastoreDisconnected",
        "RrdDaemonRestarting",
    ] {
        assert!(alerts.contains(wanted), "{wanted} missing: {alerts:?}");
    }
    check_exprs("alert rules", &exprs, &exported());
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let dir = repo_path("packaging/monitoring");
    let out = Command::new(rrd_lab::bins::promtool())
        .args(["test", "rules", "rrd-alerts.test.yaml"])
        .current_dir(&dir)
        .output()
        .expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules: {said}");
    println!("{said}");
}

#[test]
fn the_series_finder_reads_names_not_labels_or_variables() {
    assert_eq!(
        series_in(
            r#"sum by (le) (rate(rrd_apply_duration_seconds_bucket{instance=~"$instance"}[5m]))"#
        ),
        ["rrd_apply_duration_seconds_bucket"]
    );
    assert_eq!(series_in(r#"up{job="rrd_x"}"#), Vec::<String>::new());
}
