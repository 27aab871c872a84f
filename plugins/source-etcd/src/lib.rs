//! etcd source: v2 and v3 APIs, calico-v1 keys and Calico v3 resources
