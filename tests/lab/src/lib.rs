//! The test lab: several BGP hosts on one machine, for end-to-end tests
//! with real daemons.
//!
//! * [`Lab`] — a private L2 segment (a bridge inside a namespace of its
//!   own) and one network namespace per host, addresses from
//!   198.51.100.0/24 and 2001:db8::/32. Names carry the process id, so a
//!   crashed run never blocks the next one and tests run in parallel.
//! * [`Process`] — every daemon is started through the lab, tracked by
//!   PID and killed when the lab is dropped, also when a test panics.
//! * [`calico_client`] — BIRD 1.6 configured like a Calico node.
//! * [`route_reflector`] — an RR host: its daemon plus rrd driving it.
//! * [`route_monitor`] — route deletions in a host's kernel table, timed.
//! * [`topology`] — legacy topology files for rrd's file source.
//! * [`etcd`] — a real etcd on a lab host, written to with curl.
//! * [`bins`] — where the real daemons live.

pub mod bins;
pub mod calico_client;
pub mod etcd;
mod lab;
pub mod poll;
mod process;
pub mod route_monitor;
pub mod route_reflector;
pub mod since;
pub mod topology;

pub use lab::{Host, Lab};
pub use nix::sys::signal::Signal;
pub use process::Process;
