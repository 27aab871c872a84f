//! `[source.kubernetes]` in `rrd.toml`: how to reach the API server
//! (kubeconfig or in-cluster), where Calico's BGP passwords live, timeouts
//! and paging. Every key has a documented default; unknown keys are refused.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::CalicoApi;
use crate::error::KubeError;

/// The Kubernetes source's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// kubeconfig file. Unset: the first file of `$KUBECONFIG`; else the
    /// in-cluster config when `KUBERNETES_SERVICE_HOST` is set; else
    /// `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context; default: the file's `current-context`.
    pub context: Option<String>,
    /// Use the pod's service account (token and CA under
    /// `/var/run/secrets/kubernetes.io/serviceaccount/`, API server at
    /// `KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`) even when a
    /// kubeconfig could be found. Default false.
    pub in_cluster: bool,
    /// Namespace of the Secrets that BGPPeer `password.secretKeyRef` and
    /// BGPConfiguration `nodeMeshPassword` name: the namespace calico-node
    /// runs in (Calico reads `$NAMESPACE`, default `kube-system`; operator
    /// installs use `calico-system`). Default `kube-system`.
    pub secrets_namespace: String,
    /// TCP + TLS connect timeout. Default 10s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Timeout of one list page (or one Secret read). Default 30s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// `timeoutSeconds` of each watch: the API server ends the watch after
    /// this long (with a bookmark first) and rrd watches again from the
    /// last resourceVersion, which is not an error. A watch that is still
    /// silent `request_timeout` later counts as a dead connection.
    /// Default 5m.
    #[serde(with = "humantime_serde")]
    pub watch_timeout: Duration,
    /// Objects per list page (`limit`, with `continue` for the rest; all
    /// pages are one consistent snapshot). 0 lists in one response.
    /// Default 500 (client-go's pager).
    pub page_size: u32,
    /// First retry delay after a failure; doubles, with jitter. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Cap of the retry delay. Default 30s.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Where Calico's BGPPeers and BGPConfigurations are read:
    /// `"crd.projectcalico.org/v1"` (the CRDs of Calico's Kubernetes
    /// datastore), `"projectcalico.org/v3"` (Calico's native v3 CRDs), or
    /// `"auto"`: the one the API server serves, the v1 CRDs first. Status
    /// says which. Default `"auto"`.
    pub api_group: CalicoApi,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            kubeconfig: None,
            context: None,
            in_cluster: false,
            secrets_namespace: "kube-system".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            watch_timeout: Duration::from_secs(300),
            page_size: 500,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            api_group: CalicoApi::Auto,
        }
    }
}

impl KubernetesConfig {
    /// Check everything that can be checked without reading files or
    /// talking to the API server.
    pub fn validate(&self) -> Result<(), KubeError> {
        let bad = |field, reason: &str| {
            Err(KubeError::Config {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.in_cluster && self.kubeconfig.is_some() {
            return bad(
                "in_cluster",
                "in_cluster = true and kubeconfig are exclusive; set one",
            );
        }
        if self.in_cluster && self.context.is_some() {
            return bad("context", "a context needs a kubeconfig, not in_cluster");
        }
        if !is_dns_label(&self.secrets_namespace) {
            return Err(KubeError::Config {
                field: "secrets_namespace",
                reason: format!(
                    "{:?} is not a namespace name (lower-case letters, digits and '-', at most 63)",
                    self.secrets_namespace
                ),
            });
        }
        if self.watch_timeout < Duration::from_secs(1) {
            return bad("watch_timeout", "must be at least 1s");
        }
        for (field, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("backoff_initial", self.backoff_initial),
        ] {
            if d.is_zero() {
                return bad(field, "must be more than 0s");
            }
        }
        if self.backoff_max < self.backoff_initial {
            return bad("backoff_max", "must not be below backoff_initial");
        }
        Ok(())
    }
}

/// RFC 1123 label, what Kubernetes accepts as a namespace name.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let c: KubernetesConfig = toml::from_str("").unwrap();
        assert_eq!(c, KubernetesConfig::default());
        assert_eq!(c.secrets_namespace, "kube-system");
        assert_eq!(c.page_size, 500);
        assert_eq!(c.watch_timeout, Duration::from_secs(300));
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<KubernetesConfig>("namespace = \"x\"").unwrap_err();
        assert!(err.to_string().contains("namespace"), "{err}");
    }

    #[test]
    fn durations_are_humantime() {
        let c: KubernetesConfig =
            toml::from_str("watch_timeout = \"90s\"\nbackoff_max = \"1m\"").unwrap();
        assert_eq!(c.watch_timeout, Duration::from_secs(90));
        assert_eq!(c.backoff_max, Duration::from_secs(60));
    }

    #[test]
    fn the_api_group_is_auto_or_one_of_calicos_two() {
        for (text, want) in [
            ("auto", CalicoApi::Auto),
            ("crd.projectcalico.org/v1", CalicoApi::CrdV1),
            ("projectcalico.org/v3", CalicoApi::V3),
        ] {
            let c: KubernetesConfig = toml::from_str(&format!("api_group = \"{text}\"")).unwrap();
            assert_eq!(c.api_group, want);
        }
        assert!(toml::from_str::<KubernetesConfig>("api_group = \"v2\"").is_err());
    }

    #[test]
    fn contradictions_and_bad_names_name_the_key() {
        let mut c = KubernetesConfig {
            in_cluster: true,
            kubeconfig: Some("/x".into()),
            ..KubernetesConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("in_cluster"));
        c.kubeconfig = None;
        c.secrets_namespace = "Calico_System".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("secrets_namespace"));
        c.secrets_namespace = "calico-system".into();
        c.validate().unwrap();
        c.watch_timeout = Duration::from_millis(10);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("watch_timeout"));
    }
}
