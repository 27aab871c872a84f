//! BGP passwords: BGPPeer `password.secretKeyRef` resolved from Secrets in
//! the configured namespace (watched one by one by name, as Calico does),
//! kept current, dropped when no longer referenced, never printed; a
//! Secret the API server refuses is that Secret's problem, not an outage.

mod common;

use common::{is_snapshot, is_unreachable, requests_for, watch, WITHIN};
use rrd_core::testing::fixtures;
use rrd_core::{Secret, SecretRef, SourceEvent, TopologyChange};
use rrd_source_kubernetes::testing::{secret_object, KubernetesFixture, Resource};
use serde_json::{json, Value};

fn peer_with_password(name: &str, ip: &str, secret: &str, key: &str) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "BGPPeer",
        "metadata": { "name": name },
        "spec": {
            "peerIP": ip,
            "asNumber": 64512,
            "password": { "secretKeyRef": { "name": secret, "key": key } },
        },
    })
}

fn reference(name: &str, key: &str) -> SecretRef {
    SecretRef {
        name: name.into(),
        key: key.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_come_from_the_referenced_secret_in_the_configured_namespace() {
    let mut f = KubernetesFixture::start().await;
    f.config.secrets_namespace = "calico-system".into();
    f.write_topology(&fixtures::seed());
    f.server.with_state(|s| {
        s.apply(peer_with_password(
            "rr-peer",
            "198.51.100.50",
            "bgp-secrets",
            "rr",
        ));
        s.apply(secret_object(
            "calico-system",
            "bgp-secrets",
            &[("rr", "s3cret"), ("other", "unused-1")],
        ));
        s.apply(secret_object(
            "kube-system",
            "bgp-secrets",
            &[("rr", "wrong-ns")],
        ));
    });

    let mut w = watch(f.config.clone());
    let SourceEvent::Snapshot(t) = w.wait_for("the snapshot", WITHIN, is_snapshot).await else {
        unreachable!()
    };
    assert_eq!(
        t.secrets.into_iter().collect::<Vec<_>>(),
        [(reference("bgp-secrets", "rr"), Secret::new("s3cret"))],
        "exactly the referenced key, from the configured namespace"
    );
    let secret_requests = requests_for(&f.server, Resource::Secrets);
    assert!(!secret_requests.is_empty());
    for r in &secret_requests {
        assert_eq!(r.path, "/api/v1/namespaces/calico-system/secrets");
        assert_eq!(r.param("fieldSelector"), Some("metadata.name=bgp-secrets"));
    }

    // Rotated.
    f.server.with_state(|s| {
        s.apply(secret_object(
            "calico-system",
            "bgp-secrets",
            &[("rr", "n3w")],
        ))
    });
    w.wait_for("the rotated password", WITHIN, |e| {
        matches!(e, SourceEvent::Changes(cs) if cs.contains(&TopologyChange::UpsertSecret(
            reference("bgp-secrets", "rr"), Secret::new("n3w"))))
    })
    .await;

    // A new BGPPeer naming another Secret: peer and password in one batch.
    f.server.with_state(|s| {
        s.apply(secret_object(
            "calico-system",
            "more-secrets",
            &[("k", "pw2")],
        ));
        s.apply(peer_with_password(
            "rr-peer-2",
            "198.51.100.51",
            "more-secrets",
            "k",
        ));
    });
    let batch = w
        .wait_for("the new peer", WITHIN, |e| {
            matches!(e, SourceEvent::Changes(cs) if cs.iter().any(|c| matches!(c, TopologyChange::UpsertPeer(p) if p.name == "rr-peer-2")))
        })
        .await;
    let SourceEvent::Changes(cs) = batch else {
        unreachable!()
    };
    assert!(
        cs.contains(&TopologyChange::UpsertSecret(
            reference("more-secrets", "k"),
            Secret::new("pw2")
        )),
        "the password comes with the peer: {cs:?}"
    );

    // No longer referenced: dropped.
    f.server
        .with_state(|s| s.delete(Resource::BgpPeers, "", "rr-peer-2"));
    w.wait_for("the dropped password", WITHIN, |e| {
        matches!(e, SourceEvent::Changes(cs) if cs.contains(&TopologyChange::RemoveSecret(reference("more-secrets", "k"))))
    })
    .await;
    let store = w.store.as_ref().unwrap();
    assert_eq!(store.secrets.len(), 1);

    let printed = format!("{:?}", w.log);
    for pw in ["s3cret", "n3w", "pw2", "unused-1", "wrong-ns"] {
        assert!(!printed.contains(pw), "{pw} was printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_the_api_server_refuses_is_rejected_and_the_rest_is_emitted() {
    let f = KubernetesFixture::start().await;
    f.write_topology(&fixtures::seed());
    f.server.with_state(|s| {
        s.forbidden.insert(Resource::Secrets);
        s.apply(peer_with_password(
            "rr-peer",
            "198.51.100.50",
            "bgp-secrets",
            "rr",
        ));
    });
    let mut w = watch(f.config.clone());
    let SourceEvent::Snapshot(t) = w.wait_for("the snapshot", WITHIN, is_snapshot).await else {
        unreachable!()
    };
    assert!(t.peers.contains_key("rr-peer"));
    assert!(t.secrets.is_empty());
    let rejection = w
        .wait_for("the Secret's rejection", WITHIN, |e| {
            matches!(e, SourceEvent::Rejected { key, .. } if key == "Secret kube-system/bgp-secrets")
        })
        .await;
    assert!(format!("{rejection:?}").contains("403"), "{rejection:?}");
    assert_eq!(w.count(is_unreachable), 0, "{:#?}", w.short_log());
}
