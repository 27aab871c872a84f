//! Shared by the integration tests: the source watching, its events
//! recorded and folded by rrd-core's recorder.

#![allow(dead_code, unused_imports)]

pub use rrd_core::testing::recorder::{
    is_connected, is_data, is_resyncing, is_snapshot, is_unreachable, poll_until, short,
    Recorder as Watch,
};
use rrd_source_consul::{ConsulConfig, ConsulSource};

/// A ConsulSource watching, its sink holding `capacity` events.
pub fn watch(config: ConsulConfig, capacity: usize) -> Watch {
    Watch::start(ConsulSource::new(config).expect("valid config"), capacity)
}
