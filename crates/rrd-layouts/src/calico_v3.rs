//! Calico v3 resources (BGPPeer, BGPConfiguration, Node) -> topology. Shared by etcd v3, Kubernetes and file sources.
