//! The admin library behind `rrd rr|peer|node-mesh|default-as`: exact keys
//! and JSON on both APIs, read back by the source as the seed; nonsense is
//! refused by argument name before anything is written.

use rrd_core::testing::fixtures;
use rrd_core::{Asn, PeerSource};
use rrd_layouts::calico_v1::LegacyKey;
use rrd_source_etcd::testing::EtcdFixture;
use rrd_source_etcd::{EtcdAdmin, EtcdApi, EtcdError, EtcdSource, Layout};

async fn admin_writes_what_calicoctl_wrote(api: EtcdApi) {
    let f = EtcdFixture::start(api, Layout::CalicoV1).await;
    let admin = EtcdAdmin::new(f.config.clone()).unwrap();
    let raw = |rel: &'static str| {
        let f = &f;
        async move { f.kv.get(&f.key(rel)).await.unwrap() }
    };

    assert_eq!(admin.default_as(None).await.unwrap(), Asn(64511));
    assert!(admin.node_mesh(None).await.unwrap());

    for (name, addr) in [
        ("kube-master", "172.17.42.30"),
        ("kube-node1", "172.17.42.31"),
        ("kube-node2", "172.17.42.32"),
    ] {
        f.kv.put(&f.key(&format!("host/{name}/ip_addr_v4")), addr)
            .await
            .unwrap();
    }
    assert!(!admin.node_mesh(Some("off")).await.unwrap());
    assert_eq!(
        raw("global/node_mesh").await.as_deref(),
        Some(r#"{"enabled":false}"#)
    );
    admin.rr_add("172.17.42.40", Some("1.0.0.1")).await.unwrap();
    assert_eq!(
        raw("rr_v4/172.17.42.40").await.as_deref(),
        Some(r#"{"ip":"172.17.42.40","cluster_id":"1.0.0.1"}"#)
    );
    admin.peer_add("172.17.42.40", "65100", None).await.unwrap();
    assert_eq!(
        raw("global/peer_v4/172.17.42.40").await.as_deref(),
        Some(r#"{"ip":"172.17.42.40","as_num":"65100"}"#)
    );

    let mut want = fixtures::seed();
    want.defaults.node_mesh = false;
    let mut source = EtcdSource::new(f.config.clone()).unwrap();
    assert_eq!(source.snapshot().await.unwrap(), want);

    let list = admin.rr_list().await.unwrap();
    assert_eq!(
        list.reflectors,
        want.route_reflectors.values().cloned().collect::<Vec<_>>()
    );
    assert!(list.rejected.is_empty());

    // Node-specific peers, v6 RRs, the default AS, removals.
    admin
        .peer_add("2001:db8::40", "65100", Some("kube-node1"))
        .await
        .unwrap();
    assert_eq!(
        admin
            .get_raw(&LegacyKey::HostPeer(
                "kube-node1".into(),
                "2001:db8::40".parse().unwrap()
            ))
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"ip":"2001:db8::40","as_num":"65100"}"#)
    );
    admin
        .rr_add("2001:db8::40", Some("16777218"))
        .await
        .unwrap();
    assert_eq!(
        raw("rr_v6/2001:db8::40").await.as_deref(),
        Some(r#"{"ip":"2001:db8::40","cluster_id":"1.0.0.2"}"#)
    );
    assert_eq!(admin.rr_list().await.unwrap().reflectors.len(), 2);
    assert_eq!(admin.default_as(Some("65123")).await.unwrap(), Asn(65123));
    assert_eq!(raw("global/as_num").await.as_deref(), Some("65123"));

    admin
        .peer_remove("2001:db8::40", Some("kube-node1"))
        .await
        .unwrap();
    admin.rr_remove("2001:db8::40").await.unwrap();
    assert!(matches!(
        admin.rr_remove("2001:db8::40").await,
        Err(EtcdError::NotFound { .. })
    ));
    let mut want = want.clone();
    want.defaults.asn = Some(Asn(65123));
    assert_eq!(source.snapshot().await.unwrap(), want);

    // Nonsense is refused by name and writes nothing.
    for (result, argument) in [
        (admin.rr_add("172.17.42.400", None).await, "<ip>"),
        (
            admin.rr_add("172.17.42.41", Some("1.0.0")).await,
            "--cluster-id",
        ),
        (admin.peer_add("172.17.42.41", "abc", None).await, "--as"),
        (
            admin.peer_add("172.17.42.41", "65000", Some("a/b")).await,
            "--node",
        ),
        (
            admin.node_mesh(Some("sometimes")).await.map(|_| ()),
            "on|off",
        ),
        (admin.default_as(Some("0")).await.map(|_| ()), "<as>"),
    ] {
        match result {
            Err(EtcdError::Argument(e)) => assert_eq!(e.argument, argument, "{e}"),
            other => panic!("expected a refusal naming {argument}, got {other:?}"),
        }
    }
    assert_eq!(source.snapshot().await.unwrap(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_write_calicoctl_keys_through_the_v2_api() {
    admin_writes_what_calicoctl_wrote(EtcdApi::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_write_calicoctl_keys_through_the_v3_api() {
    admin_writes_what_calicoctl_wrote(EtcdApi::V3).await;
}

#[test]
fn admin_commands_refuse_the_calico_v3_layout() {
    let config = rrd_source_etcd::EtcdConfig {
        layout: Layout::CalicoV3,
        ..Default::default()
    };
    assert!(matches!(
        EtcdAdmin::new(config),
        Err(EtcdError::AdminLayout { .. })
    ));
}
