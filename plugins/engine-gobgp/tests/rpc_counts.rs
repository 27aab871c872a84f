//! What an apply costs gobgpd, counted in RPCs ([`RpcCounts`]): gobgpd's
//! main loop spends time proportional to its peer count on every request,
//! even a ListPeer of one address, so the count is what matters at scale.
//! A single change is sent alone (presuming gobgpd holds what was applied;
//! a refusal has that one address read); a targeted plan of many sessions
//! lists every peer once instead of each on its own; a run of removals or
//! additions sends exactly one RPC per session. Real gobgpd in a private
//! namespace (root needed), with clients that never come up.

mod support;

use rrd_core::{plan, BgpEngine, RrConfig, StartMode, StopMode};
use rrd_engine_gobgp::{GobgpEngine, RpcCounts};
use support::{managed, require_root_and_gobgpd, rr_clients, Logs, NetNs, LOCAL};

/// Apply `to` over `from` (what the engine holds) with the plan the
/// runtime would make; the RPCs it took.
async fn apply_counted(engine: &mut GobgpEngine, from: &RrConfig, to: &RrConfig) -> RpcCounts {
    let before = engine.client().expect("started").rpc_counts();
    let p = plan(to, Some(from));
    engine.apply(to, &p).await.expect("apply");
    engine
        .client()
        .expect("started")
        .rpc_counts()
        .since(&before)
}

#[test]
fn a_targeted_plan_of_many_sessions_lists_every_peer_once_and_a_single_change_is_sent_alone() {
    require_root_and_gobgpd();
    let logs = Logs::new();
    let ns = NetNs::new("rpcs", &[&format!("{LOCAL}/32")]);
    let dir = logs.path().to_path_buf();
    ns.run(move || async move {
        let mut engine = GobgpEngine::new(managed(&dir, "rr", 50051));
        engine.start(StartMode::Fresh).await.expect("start");
        let base = rr_clients(100);
        let p = plan(&base, None);
        engine.apply(&base, &p).await.expect("first apply");
        assert_eq!(engine.held().await.expect("held").as_ref(), Some(&base));

        // One node more: its AddPeer alone (gobgpd holds what was applied).
        let one_more = rr_clients(101);
        let sent = apply_counted(&mut engine, &base, &one_more).await;
        assert_eq!(
            sent,
            RpcCounts {
                add_peer: 1,
                ..RpcCounts::default()
            }
        );

        // 20 nodes more (a targeted plan: at most a quarter of the
        // sessions): one listing of every peer, not 20 of one each.
        let more = rr_clients(121);
        let sent = apply_counted(&mut engine, &one_more, &more).await;
        assert_eq!(
            sent,
            RpcCounts {
                get_bgp: 1,
                list_peer_all: 1,
                add_peer: 20,
                ..RpcCounts::default()
            }
        );
        assert_eq!(engine.held().await.expect("held").as_ref(), Some(&more));

        // And back: 21 removals, sent as a concurrent run.
        let sent = apply_counted(&mut engine, &more, &base).await;
        assert_eq!(
            sent,
            RpcCounts {
                get_bgp: 1,
                list_peer_all: 1,
                delete_peer: 21,
                ..RpcCounts::default()
            }
        );
        assert_eq!(engine.held().await.expect("held").as_ref(), Some(&base));

        // A node gone whose peer someone else deleted already: gobgpd
        // refuses the DeletePeer, the engine reads that one address (GetBgp
        // and its ListPeer) and has nothing left to send.
        let gone = base.neighbors.values().next().expect("a client").address;
        let client = engine.client().expect("started").clone();
        client
            .delete_peer(&gone.to_string(), "by hand")
            .await
            .expect("delete by hand");
        let mut without = base.clone();
        without.neighbors.retain(|_, n| n.address != gone);
        let sent = apply_counted(&mut engine, &base, &without).await;
        assert_eq!(
            sent,
            RpcCounts {
                delete_peer: 1,
                get_bgp: 1,
                list_peer_one: 1,
                ..RpcCounts::default()
            }
        );
        assert_eq!(engine.held().await.expect("held").as_ref(), Some(&without));
        // And back (the node's AddPeer alone) for what follows.
        let sent = apply_counted(&mut engine, &without, &base).await;
        assert_eq!(sent.add_peer, 1);

        // Nothing is sent for an empty plan. A full observation is one
        // GetBgp plus one listing, whatever the number of peers (the first
        // also opens the peer-event stream); a states-only one is GetBgp.
        let sent = apply_counted(&mut engine, &base, &base).await;
        assert_eq!(sent, RpcCounts::default());
        for (full, want) in [
            (
                true,
                RpcCounts {
                    get_bgp: 1,
                    list_peer_all: 1,
                    watch_event: 1,
                    ..RpcCounts::default()
                },
            ),
            (
                true,
                RpcCounts {
                    get_bgp: 1,
                    list_peer_all: 1,
                    ..RpcCounts::default()
                },
            ),
            (
                false,
                RpcCounts {
                    get_bgp: 1,
                    ..RpcCounts::default()
                },
            ),
        ] {
            let before = engine.client().expect("started").rpc_counts();
            let seen = if full {
                engine.observe().await
            } else {
                engine.observe_states().await
            };
            assert_eq!(seen.expect("observe").sessions.len(), 100);
            let sent = engine
                .client()
                .expect("started")
                .rpc_counts()
                .since(&before);
            assert_eq!(sent, want, "full: {full}");
        }
        engine.stop(StopMode::Graceful).await.expect("stop");
    });
}
