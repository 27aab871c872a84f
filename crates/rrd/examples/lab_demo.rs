//! Quick-start demo (`scripts/demo.sh`): a whole route reflector in a
//! network-namespace lab.
//!
//! rrd runs in the RR's namespace, starts and supervises BIRD 2 itself
//! (`manage_process = true`), reads the topology from a file, and configures
//! BIRD as the RR of three Calico-like BIRD 1.6 clients. The demo prints
//! `rrd status` and the routes each client learned, then removes everything.

use std::path::PathBuf;
use std::time::Duration;

use rrd_lab::calico_client::CalicoClient;
use rrd_lab::{bins, poll, Lab};

fn rrd_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let rrd = dir.join("rrd");
    assert!(
        rrd.exists(),
        "{} missing: run `cargo build -p rrd` first",
        rrd.display()
    );
    rrd
}

fn main() {
    let rrd = rrd_binary();
    println!(
        "== building the lab: RR 198.51.100.10 and clients 198.51.100.21..23 in network namespaces"
    );
    let mut lab = Lab::new("demo");
    let rr = lab.add_host("rr", 10);
    let hosts: Vec<_> = (21..=23)
        .map(|i| lab.add_host(&format!("node{i}"), i))
        .collect();

    let topology = lab.path("topology.toml");
    let mut text = String::from(
        "# The datastore of this demo: one RR registered with cluster id 1.0.0.1,\n\
         # added as a global peer, and three Calico nodes.\n\
         rules = \"legacy\"\n[defaults]\nasn = 64512\nnode_mesh = false\n\n\
         [[route_reflectors]]\nip = \"198.51.100.10\"\ncluster_id = \"1.0.0.1\"\n\n\
         [[peers]]\nip = \"198.51.100.10\"\nasn = 64512\n",
    );
    for h in &hosts {
        text += &format!(
            "\n[[nodes]]\nname = \"{}\"\nipv4 = \"{}\"\n",
            h.name, h.ipv4
        );
    }
    std::fs::write(&topology, &text).expect("write topology");
    let config = lab.path("rrd.toml");
    std::fs::write(
        &config,
        format!(
            "[identity]\nipv4 = \"198.51.100.10\"\n\n[source]\nkind = \"file\"\n[source.file]\npath = \"{}\"\n\n\
             [engine]\nkind = \"bird\"\n[engine.bird]\nversion = \"2\"\nmanage_process = true\nbinary = \"{}\"\n\
             config_path = \"{}\"\nsocket = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:9180\"\n",
            topology.display(),
            bins::bird2().display(),
            lab.path("bird.conf").display(),
            lab.path("bird.ctl").display(),
        ),
    )
    .expect("write config");
    println!(
        "== rrd run --config {} (rrd starts BIRD 2 itself)",
        config.display()
    );
    let _rrd = rr.spawn(
        "rrd",
        &rrd,
        &["run", "--config", config.to_str().unwrap()],
        lab.path("rrd.log"),
    );

    println!("== starting three Calico-like BIRD 1.6 clients peering with the RR");
    let clients: Vec<_> = hosts
        .iter()
        .map(|h| CalicoClient::start(&lab, h, 64512, &[rr.ipv4]))
        .collect();
    for c in &clients {
        let others: Vec<String> = clients
            .iter()
            .filter(|o| o.block != c.block)
            .map(|o| o.block.clone())
            .collect();
        c.wait_for_routes(&others, Duration::from_secs(60));
    }
    poll::until(
        "rrd to report every session Established",
        Duration::from_secs(30),
        || {
            let out = rr
                .command(&rrd)
                .args(["status", "--url", "127.0.0.1:9180"])
                .output()
                .expect("rrd status");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.matches("Established").count() >= 3 {
                Ok(())
            } else {
                Err(text)
            }
        },
    );

    println!("\n== rrd status (in the RR's namespace)\n");
    let out = rr
        .command(&rrd)
        .args(["status", "--url", "127.0.0.1:9180"])
        .output()
        .expect("rrd status");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!("\n== routes each client learned through the RR (ip route show proto bird)\n");
    for c in &clients {
        println!(
            "{} ({}), advertising {}:",
            c.host.name, c.host.ipv4, c.block
        );
        for line in c
            .host
            .exec("ip", &["route", "show", "proto", "bird"])
            .lines()
        {
            println!("    {line}");
        }
        let other = clients
            .iter()
            .find(|o| o.block != c.block)
            .expect("another client");
        let a = c.route_attributes(&other.block);
        println!(
            "    {} reflected with ORIGINATOR_ID {} CLUSTER_LIST {}",
            other.block,
            a.originator_id.unwrap_or_default(),
            a.cluster_list.unwrap_or_default()
        );
    }
    println!("\n== cleaning up: stopping rrd, BIRD and the clients, deleting the namespaces");
}
