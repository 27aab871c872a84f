//! `proto/*.proto` is a subset of GoBGP 3.10's API: every service method,
//! message, field (name, number, type, label) and enum value rrd declares
//! exists identically upstream. Upstream = the `.proto` files of the Debian
//! package golang-github-osrg-gobgp-dev (`GOBGP_API_PROTO_DIR` overrides).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

const DEBIAN_DIR: &str = "/usr/share/gocode/src/github.com/osrg/gobgp/api";

fn compile(dir: &Path) -> FileDescriptorSet {
    protox::compile(
        [dir.join("gobgp.proto"), dir.join("capability.proto")],
        [dir],
    )
    .unwrap_or_else(|e| panic!("cannot compile the protos in {}: {e:?}", dir.display()))
}

/// Every message and enum by full name (`.apipb.Peer`,
/// `.apipb.PeerState.SessionState`).
#[derive(Default)]
struct Index {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
}

fn index_message(prefix: &str, m: &DescriptorProto, ix: &mut Index) {
    let name = format!("{prefix}.{}", m.name());
    for nested in &m.nested_type {
        index_message(&name, nested, ix);
    }
    for e in &m.enum_type {
        ix.enums.insert(format!("{name}.{}", e.name()), e.clone());
    }
    ix.messages.insert(name, m.clone());
}

fn index(set: &FileDescriptorSet) -> Index {
    let mut ix = Index::default();
    for f in &set.file {
        if f.package() != "apipb" {
            continue;
        }
        for m in &f.message_type {
            index_message(".apipb", m, &mut ix);
        }
        for e in &f.enum_type {
            ix.enums.insert(format!(".apipb.{}", e.name()), e.clone());
        }
    }
    ix
}

#[test]
fn the_proto_subset_matches_gobgp_3_10_names_numbers_and_types() {
    let upstream_dir = std::env::var_os("GOBGP_API_PROTO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_DIR));
    assert!(
        upstream_dir.join("gobgp.proto").exists(),
        "GoBGP's own protos are needed for this check: apt-get install golang-github-osrg-gobgp-dev \
         (or set GOBGP_API_PROTO_DIR to osrg/gobgp v3.10.0's api/ folder)"
    );
    let ours_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let ours_set = compile(&ours_dir);
    let theirs_set = compile(&upstream_dir);
    let (ours, theirs) = (index(&ours_set), index(&theirs_set));
    let mut problems = Vec::new();

    for (name, m) in &ours.messages {
        let Some(up) = theirs.messages.get(name) else {
            problems.push(format!("message {name} is not in GoBGP"));
            continue;
        };
        for f in &m.field {
            match up.field.iter().find(|u| u.number() == f.number()) {
                None => problems.push(format!(
                    "{name}.{}: no field {} upstream",
                    f.name(),
                    f.number()
                )),
                Some(u) => {
                    let mine = (
                        f.name(),
                        f.r#type(),
                        f.label(),
                        f.type_name(),
                        f.oneof_index,
                    );
                    let up = (
                        u.name(),
                        u.r#type(),
                        u.label(),
                        u.type_name(),
                        u.oneof_index,
                    );
                    if mine != up {
                        problems.push(format!(
                            "{name} field {}: ours {mine:?}, GoBGP {up:?}",
                            f.number()
                        ));
                    }
                }
            }
        }
    }
    for (name, e) in &ours.enums {
        let Some(up) = theirs.enums.get(name) else {
            problems.push(format!("enum {name} is not in GoBGP"));
            continue;
        };
        for v in &e.value {
            if !up
                .value
                .iter()
                .any(|u| u.name() == v.name() && u.number() == v.number())
            {
                problems.push(format!(
                    "{name}.{} = {} differs upstream",
                    v.name(),
                    v.number()
                ));
            }
        }
    }
    let services = |set: &FileDescriptorSet| {
        set.file
            .iter()
            .flat_map(|f| f.service.iter().cloned())
            .find(|s| s.name() == "GobgpApi")
            .expect("service GobgpApi")
    };
    let (ours_svc, theirs_svc) = (services(&ours_set), services(&theirs_set));
    for m in &ours_svc.method {
        let up = theirs_svc.method.iter().find(|u| u.name() == m.name());
        let sig = |x: &prost_types::MethodDescriptorProto| {
            (
                x.input_type().to_owned(),
                x.output_type().to_owned(),
                x.client_streaming(),
                x.server_streaming(),
            )
        };
        match up {
            None => problems.push(format!("rpc {} is not in GoBGP", m.name())),
            Some(u) if sig(u) != sig(m) => problems.push(format!(
                "rpc {}: ours {:?}, GoBGP {:?}",
                m.name(),
                sig(m),
                sig(u)
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The subset is what rrd uses, nothing less.
    let rpcs: Vec<&str> = ours_svc.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        rpcs,
        [
            "StartBgp",
            "StopBgp",
            "GetBgp",
            "WatchEvent",
            "AddPeer",
            "DeletePeer",
            "ListPeer",
            "UpdatePeer",
            "ListPath"
        ]
    );
}
