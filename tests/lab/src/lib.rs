//! Test lab: network namespaces, real BGP daemons started and stopped by PID, Calico-like clients
