//! Scenario: the `rrd` binary with `source.kind = "consul"` against the
//! fake Consul of `rrd-source-consul` (Consul itself cannot be installed
//! where rrd is tested). The seed's keys are stored in Consul KV under
//! `calico/bgp/v1` behind an ACL token read from a file; `rrd check` and
//! `rrd render` read them through the `[source.consul]` table and print the
//! seed's expected sessions (`Global_172_17_42_30`, `rr client; rr cluster
//! id 1.0.0.1;`), exactly as from etcd.

use std::path::Path;
use std::process::Output;

use rrd_core::testing::fixtures;
use rrd_source_consul::testing::{Acl, ConsulFixture};
use rrd_source_consul::Token;

const TOKEN: &str = "3a7c-rrd-reader";

fn rrd(args: &[&str], config: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rrd"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .expect("run rrd")
}

/// The seed in a fake Consul with ACLs, and an rrd.toml that reads it.
async fn seeded(dir: &Path) -> (ConsulFixture, std::path::PathBuf) {
    let mut f = ConsulFixture::start().await;
    f.server.set_acl(Some(
        Acl::management("mgmt").with_token(TOKEN, "calico/bgp/v1/"),
    ));
    f.write_token = Some(Token::new("mgmt"));
    f.write_kvs(f.calico_v1_kvs(&fixtures::seed())).await;
    let token_file = dir.join("consul-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let config = dir.join("rrd.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[identity]
ipv4 = "172.17.42.40"

[source]
kind = "consul"
[source.consul]
addresses = ["{url}"]
token_file = "{token}"
consistency = "consistent"

[engine]
kind = "bird"
[engine.bird]
version = "2"
config_path = "{dir}/bird.conf"
socket = "{dir}/bird.ctl"
"#,
            url = f.server.url(),
            token = token_file.display(),
            dir = dir.display(),
        ),
    )
    .unwrap();
    (f, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rrd_check_and_render_read_the_seed_from_consul() {
    let dir = tempfile::tempdir().unwrap();
    let (f, config) = seeded(dir.path()).await;
    let fixture_reads = f.server.list_requests().len();

    let c = config.clone();
    let check = tokio::task::spawn_blocking(move || rrd(&["check"], &c))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "rrd check failed:\n{out}");
    assert!(out.contains("from consul"), "{out}");
    assert!(
        out.contains("3 nodes, 1 registered RRs, 1 peer rules"),
        "{out}"
    );
    assert!(out.contains("legacy"), "{out}");

    let c = config.clone();
    let render = tokio::task::spawn_blocking(move || rrd(&["render"], &c))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&render.stdout);
    assert!(
        render.status.success(),
        "rrd render failed:\n{out}\n{}",
        String::from_utf8_lossy(&render.stderr)
    );
    for want in [
        "Global_172_17_42_30",
        "Global_172_17_42_31",
        "Global_172_17_42_32",
        "rr client;",
        "rr cluster id 1.0.0.1;",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    // Every read went with the token and the read mode of the table.
    let reads = f.server.list_requests().split_off(fixture_reads);
    assert_eq!(reads.len(), 2, "one read each: {reads:?}");
    assert!(
        reads.iter().all(|r| r.had_token && r.has("consistent")),
        "{reads:?}"
    );
    assert!(!out.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_rrd_check_with_the_reason_and_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, config) = seeded(dir.path()).await;
    std::fs::write(dir.path().join("consul-token"), "wrong-token").unwrap();
    let check = tokio::task::spawn_blocking(move || rrd(&["check"], &config))
        .await
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!check.status.success(), "{out}");
    assert!(
        out.contains("ACL not found") && out.contains("403"),
        "{out}"
    );
    assert!(
        !out.contains("wrong-token"),
        "the token is never printed: {out}"
    );
}
