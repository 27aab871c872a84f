//! Test support shared by every plugin (feature `testing`).
//!
//! * [`fakes`] — an in-memory source and engine for the runtime's own tests.
//! * [`conformance`] — the suites every real source and engine must pass,
//!   so that the same topology yields the same sessions whatever the
//!   datastore and whatever the daemon.
//! * [`fixtures`] — topologies the suites and golden tests share.
//! * [`recorder`] — a watching source whose events are recorded and
//!   folded, with deadline-bounded waits: every source's tests use it.

pub mod conformance;
pub mod fakes;
pub mod fixtures;
pub mod recorder;
