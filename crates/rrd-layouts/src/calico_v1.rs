//! calico-v1 keys (`/calico/bgp/v1/...`) -> topology. Shared by the etcd and Consul sources.
