//! A thin, typed wrapper over the generated `GobgpApi` client: one
//! long-lived HTTP/2 channel (tonic reconnects it by itself), a deadline
//! per call, an error variant per RPC, and a count of the RPCs sent
//! ([`RpcCounts`]: what an apply or an observation cost gobgpd, which
//! matters at scale since gobgpd's main loop spends time proportional to
//! its peer count on every request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::apipb;
use crate::apipb::gobgp_api_client::GobgpApiClient;
use crate::error::GobgpError;

/// A gRPC client of one gobgpd.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: String,
    inner: GobgpApiClient<Channel>,
    request_timeout: Duration,
    /// Shared by every clone.
    counters: Arc<Counters>,
}

/// RPCs sent through a [`Client`] and its clones, by kind (failed ones
/// included). ListPeer is split: every peer, or the one at an address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RpcCounts {
    pub get_bgp: u64,
    pub start_bgp: u64,
    pub stop_bgp: u64,
    pub add_peer: u64,
    pub delete_peer: u64,
    pub update_peer: u64,
    pub list_peer_all: u64,
    pub list_peer_one: u64,
    pub list_path: u64,
    pub watch_event: u64,
}

impl RpcCounts {
    /// What was sent between `earlier` and `self`.
    pub fn since(&self, earlier: &RpcCounts) -> RpcCounts {
        RpcCounts {
            get_bgp: self.get_bgp - earlier.get_bgp,
            start_bgp: self.start_bgp - earlier.start_bgp,
            stop_bgp: self.stop_bgp - earlier.stop_bgp,
            add_peer: self.add_peer - earlier.add_peer,
            delete_peer: self.delete_peer - earlier.delete_peer,
            update_peer: self.update_peer - earlier.update_peer,
            list_peer_all: self.list_peer_all - earlier.list_peer_all,
            list_peer_one: self.list_peer_one - earlier.list_peer_one,
            list_path: self.list_path - earlier.list_path,
            watch_event: self.watch_event - earlier.watch_event,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    get_bgp: AtomicU64,
    start_bgp: AtomicU64,
    stop_bgp: AtomicU64,
    add_peer: AtomicU64,
    delete_peer: AtomicU64,
    update_peer: AtomicU64,
    list_peer_all: AtomicU64,
    list_peer_one: AtomicU64,
    list_path: AtomicU64,
    watch_event: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Route counts of one table, from ListPath.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RibSummary {
    pub destinations: u64,
    pub paths: u64,
    /// Paths kept from a peer's graceful restart and not yet refreshed.
    pub stale: u64,
    pub best: u64,
}

impl Client {
    /// A client for `api` (`host:port`). Connects lazily: the first call
    /// dials, later calls reuse the connection or redial.
    pub fn new(
        api: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Client, GobgpError> {
        let uri = format!("http://{api}");
        let channel = Endpoint::from_shared(uri)
            .map_err(|source| GobgpError::Connect {
                endpoint: api.to_owned(),
                source,
            })?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Client {
            endpoint: api.to_owned(),
            inner: GobgpApiClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
            request_timeout,
            counters: Arc::default(),
        })
    }

    /// The RPCs sent so far through this client and its clones.
    pub fn rpc_counts(&self) -> RpcCounts {
        let c = &*self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RpcCounts {
            get_bgp: get(&c.get_bgp),
            start_bgp: get(&c.start_bgp),
            stop_bgp: get(&c.stop_bgp),
            add_peer: get(&c.add_peer),
            delete_peer: get(&c.delete_peer),
            update_peer: get(&c.update_peer),
            list_peer_all: get(&c.list_peer_all),
            list_peer_one: get(&c.list_peer_one),
            list_path: get(&c.list_path),
            watch_event: get(&c.watch_event),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.set_timeout(self.request_timeout);
        r
    }

    /// The running BGP instance's global config (AS 0 when none runs).
    pub async fn get_bgp(&self) -> Result<apipb::Global, GobgpError> {
        count(&self.counters.get_bgp);
        let r = self
            .inner
            .clone()
            .get_bgp(self.request(apipb::GetBgpRequest {}))
            .await
            .map_err(GobgpError::GetBgp)?;
        Ok(r.into_inner().global.unwrap_or_default())
    }

    pub async fn start_bgp(&self, global: apipb::Global) -> Result<(), GobgpError> {
        count(&self.counters.start_bgp);
        let (router_id, asn) = (global.router_id.clone(), global.asn);
        self.inner
            .clone()
            .start_bgp(self.request(apipb::StartBgpRequest {
                global: Some(global),
            }))
            .await
            .map_err(|source| GobgpError::StartBgp {
                router_id,
                asn,
                source,
            })?;
        Ok(())
    }

    pub async fn stop_bgp(&self) -> Result<(), GobgpError> {
        count(&self.counters.stop_bgp);
        self.inner
            .clone()
            .stop_bgp(self.request(apipb::StopBgpRequest {}))
            .await
            .map_err(GobgpError::StopBgp)?;
        Ok(())
    }

    fn peer_ids(peer: &apipb::Peer) -> (String, String) {
        let conf = peer.conf.as_ref();
        (
            conf.map(|c| c.neighbor_address.clone()).unwrap_or_default(),
            conf.map(|c| c.description.clone()).unwrap_or_default(),
        )
    }

    pub async fn add_peer(&self, peer: apipb::Peer) -> Result<(), GobgpError> {
        count(&self.counters.add_peer);
        let (address, key) = Self::peer_ids(&peer);
        self.inner
            .clone()
            .add_peer(self.request(apipb::AddPeerRequest { peer: Some(peer) }))
            .await
            .map_err(|source| GobgpError::AddPeer {
                address,
                key,
                source,
            })?;
        Ok(())
    }

    pub async fn delete_peer(&self, address: &str, key: &str) -> Result<(), GobgpError> {
        count(&self.counters.delete_peer);
        self.inner
            .clone()
            .delete_peer(self.request(apipb::DeletePeerRequest {
                address: address.to_owned(),
                interface: String::new(),
            }))
            .await
            .map_err(|source| GobgpError::DeletePeer {
                address: address.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        Ok(())
    }

    /// Returns whether gobgpd asks for a soft reset in.
    pub async fn update_peer(&self, peer: apipb::Peer) -> Result<bool, GobgpError> {
        count(&self.counters.update_peer);
        let (address, key) = Self::peer_ids(&peer);
        let r = self
            .inner
            .clone()
            .update_peer(self.request(apipb::UpdatePeerRequest {
                peer: Some(peer),
                do_soft_reset_in: false,
            }))
            .await
            .map_err(|source| GobgpError::UpdatePeer {
                address,
                key,
                source,
            })?;
        Ok(r.into_inner().needs_soft_reset_in)
    }

    /// Every peer (or the one at `address`), read to the end of the stream
    /// within the request timeout. `advertised` also counts the routes sent
    /// to each peer (gobgpd walks its RIB for that).
    pub async fn list_peer(
        &self,
        address: &str,
        advertised: bool,
    ) -> Result<Vec<apipb::Peer>, GobgpError> {
        count(if address.is_empty() {
            &self.counters.list_peer_all
        } else {
            &self.counters.list_peer_one
        });
        let read = async {
            let mut stream = self
                .inner
                .clone()
                .list_peer(self.request(apipb::ListPeerRequest {
                    address: address.to_owned(),
                    enable_advertised: advertised,
                }))
                .await?
                .into_inner();
            let mut out = Vec::new();
            while let Some(r) = stream.message().await? {
                out.extend(r.peer);
            }
            Ok(out)
        };
        match tokio::time::timeout(self.request_timeout, read).await {
            Ok(r) => r.map_err(GobgpError::ListPeer),
            Err(_) => Err(GobgpError::ListPeer(tonic::Status::deadline_exceeded(
                "ListPeer stream not finished in time",
            ))),
        }
    }

    /// Count the routes of a table: `table` GLOBAL (the Loc-RIB), or ADJ_IN
    /// / ADJ_OUT of the peer at `neighbor`.
    pub async fn rib_summary(
        &self,
        table: apipb::TableType,
        neighbor: &str,
        family: apipb::Family,
    ) -> Result<RibSummary, GobgpError> {
        count(&self.counters.list_path);
        let read = async {
            let mut stream = self
                .inner
                .clone()
                .list_path(self.request(apipb::ListPathRequest {
                    table_type: table as i32,
                    name: neighbor.to_owned(),
                    family: Some(family),
                    ..Default::default()
                }))
                .await?
                .into_inner();
            let mut s = RibSummary::default();
            while let Some(r) = stream.message().await? {
                let Some(d) = r.destination else { continue };
                s.destinations += 1;
                for p in &d.paths {
                    s.paths += 1;
                    s.stale += u64::from(p.stale);
                    s.best += u64::from(p.best);
                }
            }
            Ok(s)
        };
        match tokio::time::timeout(self.request_timeout, read).await {
            Ok(r) => r.map_err(GobgpError::ListPath),
            Err(_) => Err(GobgpError::ListPath(tonic::Status::deadline_exceeded(
                "ListPath stream not finished in time",
            ))),
        }
    }

    /// Peer events (state changes, peers added and removed) as they happen;
    /// the stream stays open until dropped or gobgpd goes away.
    pub async fn watch_peers(
        &self,
    ) -> Result<tonic::Streaming<apipb::WatchEventResponse>, GobgpError> {
        count(&self.counters.watch_event);
        // No deadline: the stream is meant to stay open.
        let r = self
            .inner
            .clone()
            .watch_event(tonic::Request::new(apipb::WatchEventRequest {
                peer: Some(apipb::watch_event_request::Peer {}),
                table: None,
            }))
            .await
            .map_err(GobgpError::WatchEvent)?;
        Ok(r.into_inner())
    }
}
