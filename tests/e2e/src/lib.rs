//! End-to-end scenarios: rrd driving real daemons for real clients in network namespaces
