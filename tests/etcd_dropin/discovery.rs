//! Drop-in mode finds the fabric where it is, with Calico's own variables:
//! `DATASTORE_TYPE=etcdv3` reads calico-v1 keys through the v3 API, an etcd
//! without the v2 API is probed on v3, and an empty datastore is said out
//! loud instead of rendering an RR without sessions. Real etcd 3.4 on
//! loopback; `rrd render` / `rrd check` only (nothing is contacted).

use std::process::{Command, Output};

use rrd_source_etcd::testing::{EtcdServer, RawKv};
use rrd_source_etcd::{EtcdApi, Layout};

const RR: &str = "172.17.42.40";

/// The seed's keys (its own addresses: rendered, never contacted).
async fn write_seed(etcd: &EtcdServer, api: EtcdApi) {
    let kv = RawKv::connect(&etcd.config(api, Layout::CalicoV1))
        .await
        .expect("etcd client");
    let mut keys = vec![
        (
            "global/node_mesh".to_owned(),
            r#"{"enabled":false}"#.to_owned(),
        ),
        (
            format!("global/peer_v4/{RR}"),
            format!(r#"{{"ip":"{RR}","as_num":"65100"}}"#),
        ),
        (
            format!("rr_v4/{RR}"),
            format!(r#"{{"ip":"{RR}","cluster_id":"1.0.0.1"}}"#),
        ),
    ];
    for (name, n) in [("kube-master", 30), ("kube-node1", 31), ("kube-node2", 32)] {
        keys.push((format!("host/{name}/ip_addr_v4"), format!("172.17.42.{n}")));
    }
    for (key, value) in keys {
        kv.put(&format!("/calico/bgp/v1/{key}"), &value)
            .await
            .expect("put");
    }
}

/// `rrd <args>` with only the given variables (a container's environment).
fn dropin(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_rrd"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RRD_STATE_DIR", dir.path().join("state"))
        .env("RRD_RUN_DIR", dir.path().join("run"))
        .env("IP", RR)
        .envs(vars.iter().copied())
        .output()
        .expect("run rrd")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_seed_sessions(rendered: &str) {
    for n in 30..=32 {
        assert!(
            rendered.contains(&format!(
                "protocol bgp Global_172_17_42_{n} from bgp_template"
            )),
            "session to 172.17.42.{n} missing:\n{rendered}"
        );
    }
}

#[tokio::test]
async fn datastore_type_etcdv3_reads_calico_v1_keys_through_the_v3_api() {
    let etcd = EtcdServer::start().await;
    write_seed(&etcd, EtcdApi::V3).await;
    let vars = [
        ("ETCD_ENDPOINTS", etcd.endpoint()),
        ("DATASTORE_TYPE", "etcdv3".to_owned()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let out = dropin(&["render"], &vars);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_seed_sessions(&stdout);
    assert!(!stderr.contains("warning"), "{stderr}");

    let out = dropin(&["check", "--strict"], &vars);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("datastore: drop-in mode: etcd v3 API (DATASTORE_TYPE), layout calico-v1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn without_a_v2_api_the_fabric_is_found_on_v3_with_nothing_set() {
    let etcd = EtcdServer::start_without_v2().await;
    write_seed(&etcd, EtcdApi::V3).await;
    let endpoint = etcd.endpoint();
    let vars = [("ETCD_ENDPOINTS", endpoint.as_str())];

    let out = dropin(&["render"], &vars);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_seed_sessions(&stdout);

    let out = dropin(&["check", "-o", "json"], &vars);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("check -o json");
    let choice = report["source_choice"].as_str().unwrap_or_default();
    assert!(
        choice.contains("etcd v3 API (it holds this fabric)") && choice.contains("calico-v1"),
        "{report:#}"
    );
    assert_eq!(report["this_rr"]["rr_clients"], 3, "{report:#}");
}

#[tokio::test]
async fn an_empty_datastore_is_said_not_rendered_in_silence() {
    let etcd = EtcdServer::start().await;
    let endpoint = etcd.endpoint();
    for datastore in [None, Some("etcdv3")] {
        let mut vars = vec![("ETCD_ENDPOINTS", endpoint.as_str())];
        if let Some(d) = datastore {
            vars.push(("DATASTORE_TYPE", d));
        }
        let out = dropin(&["render"], &vars);
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("warning: datastore: holds no topology"),
            "{datastore:?}: no warning on stderr: {stderr}"
        );

        let out = dropin(&["check"], &vars);
        let (stdout, _) = text(&out);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains("warning: datastore: holds no topology"),
            "{stdout}"
        );
        let strict = dropin(&["check", "--strict"], &vars);
        assert_eq!(strict.status.code(), Some(1), "{}", text(&strict).0);
    }
}

#[tokio::test]
async fn an_unregistered_rr_without_clients_is_warned_about() {
    let etcd = EtcdServer::start().await;
    write_seed(&etcd, EtcdApi::V3).await;
    let endpoint = etcd.endpoint();
    let out = Command::new(env!("CARGO_BIN_EXE_rrd"))
        .args(["render"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "RRD_STATE_DIR",
            std::env::temp_dir().join(format!("rrd-{}", std::process::id())),
        )
        .env(
            "RRD_RUN_DIR",
            std::env::temp_dir().join(format!("rrd-run-{}", std::process::id())),
        )
        .env("IP", "172.17.42.99")
        .env("ETCD_ENDPOINTS", &endpoint)
        .env("DATASTORE_TYPE", "etcdv3")
        .output()
        .expect("run rrd");
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("not registered as a route reflector"),
        "{stderr}"
    );
    assert!(stderr.contains("has no client sessions"), "{stderr}");
}
