//! Drop-in mode: the `calico/routereflector` image's environment, and
//! Calico's own datastore variables, turned into an [`EtcdConfig`] and this
//! RR's identity, so rrd can replace the container with the same
//! `docker run -e ...` line; then [`discover`] finds which etcd API and
//! which layout hold this fabric.
//!
//! | variable | meaning |
//! |---|---|
//! | `IP` (required) | this RR's IPv4 address (BIRD's router id and source address) |
//! | `IP6` | this RR's IPv6 address |
//! | `DATASTORE_TYPE` | Calico's: `etcdv3` (read the v3 API), `kubernetes` (handled by the binary); rrd also takes `etcdv2` |
//! | `ETCD_ENDPOINTS` | comma-separated URLs (`http://10.0.0.1:2379,https://...`) |
//! | `ETCD_AUTHORITY` | older form, `host:port`, used when `ETCD_ENDPOINTS` is unset |
//! | `ETCD_SCHEME` | `http` (default) or `https`, with `ETCD_AUTHORITY` |
//! | `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE` | TLS files |
//! | `ETCD_USERNAME`, `ETCD_PASSWORD` | etcd role-based auth (the password is read from the environment, never logged) |
//! | `RRD_ETCD_API` | rrd only: `v2` or `v3`, skips the API probe |
//! | `RRD_ETCD_LAYOUT` | rrd only: `calico-v1` or `calico-v3`, skips the layout probe |
//!
//! Every Calico variable is also read in its `CALICO_`-prefixed form
//! (`CALICO_DATASTORE_TYPE`, `CALICO_ETCD_ENDPOINTS`, ...), as calicoctl
//! does; the plain form wins when both are set. Without any endpoint
//! variable, `http://127.0.0.1:2379` is used, as calicoctl did. Empty
//! variables count as unset.
//!
//! The v2 and v3 APIs are separate keyspaces, and etcd 3.6 has no v2 API at
//! all, so the API is not guessed from the variables alone: see
//! [`discover`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rrd_core::RrIdentity;

use crate::config::{EtcdApi, EtcdConfig, Layout};
use crate::error::EtcdError;
use crate::v2::V2Client;
use crate::v3::V3Client;

/// Which API the environment asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiRequest {
    /// Named explicitly (`RRD_ETCD_API`, `DATASTORE_TYPE=etcdv2`): no probe.
    Exactly(EtcdApi, &'static str),
    /// `DATASTORE_TYPE=etcdv3`: the v3 API; the layout is probed.
    V3(&'static str),
    /// Nothing said: probe v3, then v2.
    Any,
}

/// What the environment says about the etcd datastore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropInEtcd {
    pub config: EtcdConfig,
    pub identity: RrIdentity,
    pub api: ApiRequest,
    /// `RRD_ETCD_LAYOUT`, when set.
    pub layout: Option<Layout>,
}

/// The first of `names` that is set and not blank, with its name.
fn first_set<F>(env: &F, names: &[&'static str]) -> Option<(&'static str, String)>
where
    F: Fn(&str) -> Option<String>,
{
    names.iter().find_map(|name| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (*name, v))
    })
}

impl EtcdConfig {
    /// Read the routereflector image's and Calico's variables through `env`
    /// (for the process environment: `|k| std::env::var(k).ok()`).
    pub fn from_routereflector_env<F>(env: F) -> Result<DropInEtcd, EtcdError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let var = |name: &'static str| {
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

        let (endpoints, from) = if let Some((name, list)) =
            first_set(&env, &["ETCD_ENDPOINTS", "CALICO_ETCD_ENDPOINTS"])
        {
            let eps: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect();
            (eps, name)
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

        let datastore = first_set(&env, &["DATASTORE_TYPE", "CALICO_DATASTORE_TYPE"]);
        let mut api = match &datastore {
            None => ApiRequest::Any,
            Some((name, t)) => match t.as_str() {
                "etcdv3" => ApiRequest::V3(name),
                "etcdv2" => ApiRequest::Exactly(EtcdApi::V2, name),
                other => {
                    return Err(bad(
                        name,
                        format!("{other:?}: expected etcdv3 or kubernetes (rrd also takes etcdv2)"),
                    ))
                }
            },
        };
        match var("RRD_ETCD_API").as_deref() {
            None => {}
            Some("v2") => api = ApiRequest::Exactly(EtcdApi::V2, "RRD_ETCD_API"),
            Some("v3") => api = ApiRequest::Exactly(EtcdApi::V3, "RRD_ETCD_API"),
            Some(other) => {
                return Err(bad("RRD_ETCD_API", format!("{other:?}: expected v2 or v3")))
            }
        }
        let layout = match var("RRD_ETCD_LAYOUT").as_deref() {
            None => None,
            Some("calico-v1") => Some(Layout::CalicoV1),
            Some("calico-v3") => Some(Layout::CalicoV3),
            Some(other) => {
                return Err(bad(
                    "RRD_ETCD_LAYOUT",
                    format!("{other:?}: expected calico-v1 or calico-v3"),
                ))
            }
        };

        let file =
            |names| first_set(&env, names).map(|(name, v)| (name, std::path::PathBuf::from(v)));
        let ca = file(&["ETCD_CA_CERT_FILE", "CALICO_ETCD_CA_CERT_FILE"]);
        let cert = file(&["ETCD_CERT_FILE", "CALICO_ETCD_CERT_FILE"]);
        let key = file(&["ETCD_KEY_FILE", "CALICO_ETCD_KEY_FILE"]);
        let username = first_set(&env, &["ETCD_USERNAME", "CALICO_ETCD_USERNAME"]);
        let password = first_set(&env, &["ETCD_PASSWORD", "CALICO_ETCD_PASSWORD"]);
        if username.is_some() != password.is_some() {
            let (missing, given) = match &username {
                Some((name, _)) => ("ETCD_PASSWORD", *name),
                None => ("ETCD_USERNAME", password.as_ref().map_or("", |p| p.0)),
            };
            return Err(bad(missing, format!("must be set together with {given}")));
        }
        let config = EtcdConfig {
            api: match api {
                ApiRequest::Exactly(api, _) => api,
                _ => EtcdApi::V3,
            },
            endpoints,
            layout: layout.unwrap_or(Layout::CalicoV1),
            ca_file: ca.as_ref().map(|(_, p)| p.clone()),
            cert_file: cert.as_ref().map(|(_, p)| p.clone()),
            key_file: key.as_ref().map(|(_, p)| p.clone()),
            username: username.map(|(_, u)| u),
            password_env: password.map(|(name, _)| name.to_owned()),
            ..EtcdConfig::default()
        };
        let name_of = |field: &str, default: &'static str| match field {
            "ca_file" => ca.as_ref().map_or(default, |c| c.0),
            "cert_file" => cert.as_ref().map_or("ETCD_CERT_FILE", |c| c.0),
            "key_file" => key.as_ref().map_or("ETCD_KEY_FILE", |c| c.0),
            _ => default,
        };
        config.validate().map_err(|e| match e {
            EtcdError::Config { field, reason } => bad(name_of(field, from), reason),
            other => other,
        })?;
        let identity = RrIdentity {
            ipv4: Some(ipv4),
            ipv6,
            ..RrIdentity::default()
        };
        Ok(DropInEtcd {
            config,
            identity,
            api,
            layout,
        })
    }
}

/// What one etcd API holds for this RR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Findings {
    /// `rr_v4/<IP>` or `rr_v6/<IP6>` exists under the calico-v1 prefix.
    registered: bool,
    /// Anything under the calico-v1 prefix.
    calico_v1: bool,
    /// Anything under the Calico v3 resources prefix (v3 API only).
    calico_v3: bool,
}

impl Findings {
    fn anything(self) -> bool {
        self.calico_v1 || self.calico_v3
    }
}

/// The addresses this RR registers under (`rr_v4/<IP>`, `rr_v6/<IP6>`).
fn registration_keys(identity: &RrIdentity) -> Vec<String> {
    let prefix = Layout::CalicoV1.default_prefix();
    [identity.ipv4.map(IpAddr::V4), identity.ipv6.map(IpAddr::V6)]
        .into_iter()
        .flatten()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("{prefix}/rr_v4/{v4}"),
            IpAddr::V6(v6) => format!("{prefix}/rr_v6/{v6}"),
        })
        .collect()
}

/// Probes must not hold a start up for the full request timeout.
fn probing(config: &EtcdConfig) -> EtcdConfig {
    EtcdConfig {
        dial_timeout: config.dial_timeout.min(Duration::from_secs(2)),
        request_timeout: config.request_timeout.min(Duration::from_secs(3)),
        ..config.clone()
    }
}

async fn probe_v3(config: &EtcdConfig, identity: &RrIdentity) -> Result<Findings, EtcdError> {
    let client = V3Client::connect(&probing(config)).await?;
    let mut found = Findings::default();
    for key in registration_keys(identity) {
        found.registered |= client.get(&key).await?.is_some();
    }
    let v1 = format!("{}/", Layout::CalicoV1.default_prefix());
    let v3 = format!("{}/", Layout::CalicoV3.default_prefix());
    found.calico_v1 = found.registered || client.count_prefix(v1.as_bytes()).await? > 0;
    found.calico_v3 = client.count_prefix(v3.as_bytes()).await? > 0;
    Ok(found)
}

async fn probe_v2(config: &EtcdConfig, identity: &RrIdentity) -> Result<Findings, EtcdError> {
    let client = V2Client::new(&probing(&EtcdConfig {
        api: EtcdApi::V2,
        ..config.clone()
    }))?;
    let mut found = Findings::default();
    for key in registration_keys(identity) {
        found.registered |= client.get(&key).await?.is_some();
    }
    found.calico_v1 = found.registered || client.exists(Layout::CalicoV1.default_prefix()).await?;
    Ok(found)
}

/// The layout to read on the v3 API, and why.
fn v3_layout(found: Findings) -> (Layout, String) {
    let v1 = Layout::CalicoV1.default_prefix();
    let v3 = Layout::CalicoV3.default_prefix();
    match (found.registered, found.calico_v1, found.calico_v3) {
        (true, _, _) => (
            Layout::CalicoV1,
            "this RR's rr_v4/rr_v6 key is there (calico-v1 keys)".into(),
        ),
        (false, true, false) => (Layout::CalicoV1, format!("keys found under {v1}")),
        (false, false, true) => (Layout::CalicoV3, format!("Calico v3 resources found under {v3}")),
        (false, true, true) => (
            Layout::CalicoV3,
            format!(
                "both {v3} (Calico v3 resources) and {v1} hold keys, and no rr_v4 key names this RR: \
                 reading Calico v3 resources (RRD_ETCD_LAYOUT=calico-v1 reads the other)"
            ),
        ),
        (false, false, false) => (
            Layout::CalicoV1,
            format!("nothing under {v1} nor {v3}: reading calico-v1 keys, the image's layout"),
        ),
    }
}

/// Find the API and layout that hold this fabric, and say why: the
/// config to run with, and one sentence for the log and `rrd status`.
///
/// * an explicit API (`RRD_ETCD_API`, `DATASTORE_TYPE=etcdv2`) is used as
///   given; on v3 the layout is still probed unless `RRD_ETCD_LAYOUT` says;
/// * `DATASTORE_TYPE=etcdv3`: the v3 API; the layout that registers this
///   RR, else the one that holds keys;
/// * nothing set: the v3 API if it holds the fabric, else the v2 API if it
///   does, else v2 when it answers (the image's default), else v3.
///
/// An etcd that does not answer is not an error here: the choice falls
/// back as described, says so, and the source retries as usual.
pub async fn discover(dropin: &DropInEtcd) -> (EtcdConfig, String) {
    let mut config = dropin.config.clone();
    let pin_layout = |config: &mut EtcdConfig, probed: (Layout, String)| match dropin.layout {
        Some(layout) => {
            config.layout = layout;
            format!("layout {} (RRD_ETCD_LAYOUT)", layout.label())
        }
        None => {
            config.layout = probed.0;
            format!("layout {}: {}", probed.0.label(), probed.1)
        }
    };
    let unreachable = |e: &EtcdError| format!("etcd did not answer the probe ({e})");
    match dropin.api {
        ApiRequest::Exactly(EtcdApi::V2, origin) => {
            config.api = EtcdApi::V2;
            config.layout = Layout::CalicoV1;
            let why = format!("etcd v2 API ({origin}), layout calico-v1");
            (config, why)
        }
        ApiRequest::Exactly(EtcdApi::V3, origin) | ApiRequest::V3(origin) => {
            config.api = EtcdApi::V3;
            let layout = match probe_v3(&config, &dropin.identity).await {
                Ok(found) => pin_layout(&mut config, v3_layout(found)),
                Err(e) => pin_layout(
                    &mut config,
                    (
                        Layout::CalicoV1,
                        format!("{}; assuming calico-v1 keys", unreachable(&e)),
                    ),
                ),
            };
            (config, format!("etcd v3 API ({origin}), {layout}"))
        }
        ApiRequest::Any => {
            let v3 = probe_v3(&config, &dropin.identity).await;
            if let Ok(found) = v3 {
                if found.anything() {
                    config.api = EtcdApi::V3;
                    let layout = pin_layout(&mut config, v3_layout(found));
                    return (
                        config,
                        format!("etcd v3 API (it holds this fabric), {layout}"),
                    );
                }
            }
            let v2 = probe_v2(&config, &dropin.identity).await;
            config.api = EtcdApi::V2;
            config.layout = dropin.layout.unwrap_or(Layout::CalicoV1);
            let why = match (&v3, &v2) {
                (_, Ok(found)) if found.anything() => {
                    "etcd v2 API (it holds calico-v1 keys; the v3 API holds nothing)".to_owned()
                }
                (_, Ok(_)) => {
                    "etcd v2 API: neither API holds Calico data yet; v2 is the image's default"
                        .to_owned()
                }
                (Ok(_), Err(e)) => {
                    config.api = EtcdApi::V3;
                    format!(
                        "etcd v3 API: no Calico data on v3 and no v2 API ({e}); \
                         reading calico-v1 keys through v3"
                    )
                }
                (Err(e3), Err(_)) => {
                    format!("etcd v2 API, the image's default: {}", unreachable(e3))
                }
            };
            let layout = config.layout.label();
            (config, format!("{why}, layout {layout}"))
        }
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

    fn variable(r: Result<DropInEtcd, EtcdError>) -> &'static str {
        match r {
            Err(EtcdError::Env { variable, .. }) => variable,
            other => panic!("expected an environment error, got {other:?}"),
        }
    }

    #[test]
    fn the_seed_docker_run_line_probes_both_apis_at_the_authority() {
        let d = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "172.17.42.40"),
            ("ETCD_AUTHORITY", "172.17.42.30:2379"),
        ]))
        .unwrap();
        let (c, id) = (d.config, d.identity);
        assert_eq!(d.api, ApiRequest::Any);
        assert_eq!(c.endpoints, vec!["http://172.17.42.30:2379".to_owned()]);
        assert_eq!(c.prefix(), "/calico/bgp/v1");
        assert_eq!(id.ipv4, "172.17.42.40".parse().ok());
        assert_eq!(id.ipv6, None);
    }

    #[test]
    fn endpoints_win_over_authority_and_tls_files_are_taken() {
        let d = EtcdConfig::from_routereflector_env(env(&[
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
        let (c, id) = (d.config, d.identity);
        assert_eq!(d.api, ApiRequest::Exactly(EtcdApi::V3, "RRD_ETCD_API"));
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(c.api, EtcdApi::V3);
        assert_eq!(c.ca_file, Some("/certs/ca.pem".into()));
        assert_eq!(c.key_file, Some("/certs/key.pem".into()));
        assert_eq!(id.ipv6, "2001:db8::11".parse().ok());
    }

    #[test]
    fn scheme_applies_to_the_authority_and_defaults_are_calicos() {
        let c = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "198.51.100.11"),
            ("ETCD_AUTHORITY", "etcd.example:2379"),
            ("ETCD_SCHEME", "https"),
        ]))
        .unwrap()
        .config;
        assert_eq!(c.endpoints, vec!["https://etcd.example:2379".to_owned()]);
        let c = EtcdConfig::from_routereflector_env(env(&[("IP", "198.51.100.11"), ("IP6", "")]))
            .unwrap()
            .config;
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
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("DATASTORE_TYPE", "etcd")
            ]))),
            "DATASTORE_TYPE"
        );
        assert_eq!(
            variable(EtcdConfig::from_routereflector_env(env(&[
                ("IP", "10.0.0.1"),
                ("ETCD_USERNAME", "calico")
            ]))),
            "ETCD_PASSWORD"
        );
    }

    #[test]
    fn calicos_variables_and_their_calico_prefixed_forms_are_honoured() {
        let d = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "198.51.100.11"),
            ("CALICO_DATASTORE_TYPE", "etcdv3"),
            ("CALICO_ETCD_ENDPOINTS", "http://198.51.100.1:2379"),
            ("ETCD_USERNAME", "calico"),
            ("CALICO_ETCD_PASSWORD", "secret"),
        ]))
        .unwrap();
        assert_eq!(d.api, ApiRequest::V3("CALICO_DATASTORE_TYPE"));
        assert_eq!(d.config.endpoints, ["http://198.51.100.1:2379"]);
        assert_eq!(d.config.username.as_deref(), Some("calico"));
        assert_eq!(
            d.config.password_env.as_deref(),
            Some("CALICO_ETCD_PASSWORD")
        );
        let plain_wins = EtcdConfig::from_routereflector_env(env(&[
            ("IP", "198.51.100.11"),
            ("DATASTORE_TYPE", "etcdv2"),
            ("CALICO_DATASTORE_TYPE", "etcdv3"),
        ]))
        .unwrap();
        assert_eq!(
            plain_wins.api,
            ApiRequest::Exactly(EtcdApi::V2, "DATASTORE_TYPE")
        );
    }

    #[test]
    fn the_v3_layout_follows_this_rrs_registration_then_the_data() {
        let f = |registered, calico_v1, calico_v3| {
            v3_layout(Findings {
                registered,
                calico_v1,
                calico_v3,
            })
            .0
        };
        assert_eq!(f(true, true, true), Layout::CalicoV1);
        assert_eq!(f(false, true, false), Layout::CalicoV1);
        assert_eq!(f(false, false, true), Layout::CalicoV3);
        assert_eq!(f(false, true, true), Layout::CalicoV3);
        assert_eq!(f(false, false, false), Layout::CalicoV1);
    }
}
