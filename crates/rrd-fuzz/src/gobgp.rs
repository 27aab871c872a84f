//! What gobgpd reports over its gRPC API, as the GoBGP engine reads it:
//! ListPeer's `apipb::Peer` ([`rrd_engine_gobgp::observe`],
//! [`rrd_engine_gobgp::mapping::spec_of_peer`]) and GetBgp's
//! `apipb::Global` ([`rrd_engine_gobgp::mapping::spec_of_global`]).
//!
//! Input: one byte choosing the message (even: Peer, odd: Global), then
//! the protobuf bytes. Checked: a listed peer or global config that rrd
//! reads as a spec gives the same spec when rrd writes it back as a
//! message and reads that again.

use prost::Message;
use rrd_engine_gobgp::apipb;
use rrd_engine_gobgp::mapping::{global_of_spec, peer_of_spec, spec_of_global, spec_of_peer};
use rrd_engine_gobgp::observe;

pub fn run(data: &[u8]) {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    if choice % 2 == 1 {
        let Ok(global) = apipb::Global::decode(bytes) else {
            return;
        };
        if let Ok(Some(spec)) = spec_of_global(&global) {
            let again = spec_of_global(&global_of_spec(&spec));
            assert_eq!(again.ok().flatten().as_ref(), Some(&spec));
        }
        return;
    }
    let Ok(peer) = apipb::Peer::decode(bytes) else {
        return;
    };
    let _ = observe::key_of(&peer);
    let _ = observe::recovery_of(&peer);
    if let Some(status) = observe::session_of(&peer) {
        assert_eq!(status.key, observe::key_of(&peer));
    }
    match spec_of_peer(&peer) {
        Err(e) => {
            let _ = e.to_string();
        }
        // A hold time of 1 or 2 s (invalid in BGP: 0 or at least 3) reads
        // as a keepalive of 0, which rrd writes as GoBGP's default hold
        // time: no spec rrd makes has one.
        Ok(spec) if spec.keepalive == 0 => {}
        Ok(spec) => {
            let written = peer_of_spec(&spec, false);
            let again = spec_of_peer(&written).expect("rrd reads back what it writes");
            assert_eq!(
                again, spec,
                "a peer spec changed on its way through apipb::Peer"
            );
        }
    }
}
