//! The rrd binary.

fn main() {}
