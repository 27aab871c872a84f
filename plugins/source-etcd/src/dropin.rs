//! Drop-in mode: the `calico/routereflector` image's environment turned
//! into an [`EtcdConfig`] and this RR's identity, so rrd can replace the
//! container with the same `docker run -e ...` line.
//!
//! | variable | meaning |
//! |---|---|
//! | `IP` (required) | this RR's IPv4 address (BIRD's router id and source address) |
//! | `IP6` | this RR's IPv6 address |
//! | `ETCD_ENDPOINTS` | comma-separated URLs (`http://10.0.0.1:2379,https://...`) |
//! | `ETCD_AUTHORITY` | older form, `host:port`, used when `ETCD_ENDPOINTS` is unset |
//! | `ETCD_SCHEME` | `http` (default) or `https`, with `ETCD_AUTHORITY` |
//! | `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE` | TLS files |
//! | `RRD_ETCD_API` | rrd only: `v2` (default) or `v3` |
//!
//! Drop-in mode speaks the **etcd v2 API** by default: the image's confd
//! read `/calico/bgp/v1` through it, and the README's `curl .../v2/keys/...`
//! wrote the RR records there. The v2 and v3 APIs are separate keyspaces,
//! so a datastore migrated to v3 (`etcdctl migrate`) needs `RRD_ETCD_API=v3`.
//! Without any endpoint variable, `http://127.0.0.1:2379` is used, as
//! calicoctl did. Empty variables count as unset.

use std::net::{Ipv4Addr, Ipv6Addr};

use rrd_core::RrIdentity;

use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::error::EtcdError;

impl EtcdConfig {
    /// Read the routereflector image's variables through `env` (for the
    /// process environment: `|k| std::env::var(k).ok()`).
    pub fn from_routereflector_env<F>(env: F) -> Result<(EtcdConfig, RrIdentity), EtcdError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bad = |variable, reason: String| EtcdError::Env { variable, reason };

        let ip = var("IP")
            .ok_or_else(|| bad("IP", "required: this route reflector's IPv4 address".into()))?;
        let ipv4: Ipv4Addr = ip.parse().map_err(|_| {
            bad(
                "IP",
                format!("{ip:?} is not an IPv4 address (autodetection is not supported: give the address)"),
            )
        })?;
        let ipv6 = match var("IP6") {
            None => None,
            Some(v) => Some(
                v.parse::<Ipv6Addr>()
                    .map_err(|_| bad("IP6", format!("{v:?} is not an IPv6 address")))?,
            ),
        };

        let (endpoints, from) = if let Some(list) = var("ETCD_ENDPOINTS") {
            let eps: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            (eps, "ETCD_ENDPOINTS")
        } else if let Some(authority) = var("ETCD_AUTHORITY") {
            let scheme = var("ETCD_SCHEME").unwrap_or_else(|| "http".into());
            if scheme != "http" && scheme != "https" {
                return Err(bad(
                    "ETCD_SCHEME",
                    format!("{scheme:?}: expected http or https"),
                ));
            }
            if authority.contains("://") || authority.contains('/') {
                return Err(bad(
                    "ETCD_AUTHORITY",
                    format!("{authority:?}: expected host:port (put URLs in ETCD_ENDPOINTS)"),
                ));
            }
            (vec![format!("{scheme}://{authority}")], "ETCD_AUTHORITY")
        } else {
            (vec!["http://127.0.0.1:2379".to_owned()], "ETCD_ENDPOINTS")
        };
        for e in &endpoints {
            let ok = reqwest::Url::parse(e)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return Err(bad(
                    from,
                    format!("{e:?} is not an http(s)://host:port URL"),
                ));
            }
        }

        let api = match var("RRD_ETCD_API").as_deref() {
            None | Some("v2") => EtcdApi::V2,
            Some("v3") => EtcdApi::V3,
            Some(other) => {
                return Err(bad("RRD_ETCD_API", format!("{other:?}: expected v2 or v3")))
            }
        };

        let config = EtcdConfig {
            api,
            endpoints,
            layout: Layout::CalicoV1,
            ca_file: var("ETCD_CA_CERT_FILE").map(Into::into),
            cert_file: var("ETCD_CERT_FILE").map(Into::into),
            key_file: var("ETCD_KEY_FILE").map(Into::into),
            ..EtcdConfig::default()
        };
        config.validate().map_err(|e| match e {
            EtcdError::Config { field, reason } => bad(
                match field {
                    "cert_file" => "ETCD_CERT_FILE",
                    "key_file" => "ETCD_KEY_FILE",
                    _ => from,
                },
                reason,
            ),
            other => other,
        })?;
        let identity = RrIdentity {
            ipv4: Some(ipv4),
            ipv6,
            ..RrIdentity::default()
        };
        Ok((config, identity))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn variable(r: Result<(EtcdConfig, RrIdentity), EtcdError>) -> &'static str {
        match r {
            Err(EtcdError::Env { variable, .. }) => variable,
            other => panic!("expected an environment error, got {other:?}"),
        }
    }

    #[test]
    fn the_seed_docker_run_line_reads_the_v2_api_at_the_authority() {
        let (c, id) = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "172.17.42.40"),
            ("ETCD_AUTHORITY", "172.17.42.30:2379"),
        ]))
        .unwrap();
        assert_eq!(c.api, EtcdApi::V2);
        assert_eq!(c.endpoints, vec!["http://172.17.42.30:2379".to_owned()]);
        assert_eq!(c.prefix(), "/calico/bgp/v1");
        assert_eq!(id.ipv4, "172.17.42.40".parse().ok());
        assert_eq!(id.ipv6, None);
    }

    #[test]
    fn endpoints_win_over_authority_and_tls_files_are_taken() {
        let (c, id) = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "198.51.100.11"),
            ("IP6", "2001:db8::11"),
            (
                "ETCD_ENDPOINTS",
                "https://198.51.100.1:2379, https://198.51.100.2:2379,",
            ),
            ("ETCD_AUTHORITY", "ignored:1"),
            ("ETCD_CA_CERT_FILE", "/certs/ca.pem"),
            ("ETCD_CERT_FILE", "/certs/cert.pem"),
            ("ETCD_KEY_FILE", "/certs/key.pem"),
            ("RRD_ETCD_API", "v3"),
        ]))
        .unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.api, EtcdApi::V3);
        assert_eq!(c.ca_file, Some("/certs/ca.pem".into()));
        assert_eq!(c.key_file, Some("/certs/key.pem".into()));
        assert_eq!(id.ipv6, "2001:db8::11".parse().ok());
    }

    #[test]
    fn scheme_applies_to_the_authority_and_defaults_are_calicos() {
        let (c, _) = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "198.51.100.11"),
            ("ETCD_AUTHORITY", "etcd.example:2379"),
            ("ETCD_SCHEME", "https"),
        ]))
        .unwrap();
        assert_eq!(c.endpoints, vec!["https://etcd.example:2379".to_owned()]);
        let (c, _) =
            EtcdConfig::from_routereflector_env(env(&[("IP", "198.51.100.11"), ("IP6", "")]))
                .unwrap();
        assert_eq!(c.endpoints, vec!["http://127.0.0.1:2379".to_owned()]);
    }

    #[test]
    fn each_bad_variable_is_named() {
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[]))),
            "IP"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[(
                "IP",
                "autodetect"
            )]))),
            "IP"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("IP6", "10.0.0.1")
            ]))),
            "IP6"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("ETCD_ENDPOINTS", "10.0.0.2:2379")
            ]))),
            "ETCD_ENDPOINTS"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("ETCD_AUTHORITY", "h:1"),
                ("ETCD_SCHEME", "ftp")
            ]))),
            "ETCD_SCHEME"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("ETCD_ENDPOINTS", "https://h:1"),
                ("ETCD_CERT_FILE", "/c.pem")
            ]))),
            "ETCD_KEY_FILE"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("ETCD_ENDPOINTS", "http://h:1"),
                ("ETCD_CA_CERT_FILE", "/ca.pem")
            ]))),
            "ETCD_ENDPOINTS"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("RRD_ETCD_API", "v4")
            ]))),
            "RRD_ETCD_API"
        );
    }
}
