//! What rrd reads from the API: the Calico API group (found by discovery),
//! the feeds (one collection each) and their kube `Api`s.
//!
//! Calico keeps BGPPeers and BGPConfigurations as CRDs of
//! `crd.projectcalico.org/v1` (the Kubernetes datastore since Calico 3.0)
//! or, from Calico 3.32 on, natively as `projectcalico.org/v3` CRDs. Both
//! hold the v3 spec. Discovery asks the API server which group serves both
//! resources, `crd.projectcalico.org/v1` first: where both answer, the v3
//! group is Calico's aggregated API server in front of the same v1 CRDs.
//! Nodes are core `v1` Nodes read as `PartialObjectMetadata`; Secrets are
//! read one by one by name, as Calico does.

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use rrd_layouts::calico_v3::ResourceKind;
use serde::{Deserialize, Serialize};

use crate::error::KubeError;

/// The API group Calico's BGP resources are read from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum CalicoApi {
    /// Whatever the API server serves (`crd.projectcalico.org/v1` first).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// The CRDs of Calico's Kubernetes datastore.
    #[serde(rename = "crd.projectcalico.org/v1")]
    CrdV1,
    /// Calico's native v3 CRDs (or its aggregated API server).
    #[serde(rename = "projectcalico.org/v3")]
    V3,
}

impl CalicoApi {
    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        match self {
            CalicoApi::Auto | CalicoApi::CrdV1 => "crd.projectcalico.org/v1",
            CalicoApi::V3 => "projectcalico.org/v3",
        }
    }

    fn group_and_version(self) -> (&'static str, &'static str) {
        self.api_version().split_once('/').expect("group/version")
    }

    /// The plural of a Calico kind (`bgppeers`).
    fn plural(kind: ResourceKind) -> String {
        format!("{}s", kind.kind().to_lowercase())
    }

    /// The kube resource of `kind` in this group.
    pub fn resource(self, kind: ResourceKind) -> ApiResource {
        let (group, version) = self.group_and_version();
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: self.api_version().into(),
            kind: kind.kind().into(),
            plural: CalicoApi::plural(kind),
        }
    }
}

impl std::fmt::Display for CalicoApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalicoApi::Auto => f.write_str("auto"),
            other => f.write_str(other.api_version()),
        }
    }
}

/// The Calico kinds read through CRDs.
pub(crate) const CRD_KINDS: [ResourceKind; 2] =
    [ResourceKind::BgpConfiguration, ResourceKind::BgpPeer];

/// Which group serves every Calico CRD rrd reads: `wanted` itself, or for
/// `Auto` the first of `crd.projectcalico.org/v1`, `projectcalico.org/v3`.
pub(crate) async fn discover(
    client: &kube::Client,
    wanted: CalicoApi,
) -> Result<CalicoApi, KubeError> {
    let candidates: &[CalicoApi] = match wanted {
        CalicoApi::Auto => &[CalicoApi::CrdV1, CalicoApi::V3],
        CalicoApi::CrdV1 => &[CalicoApi::CrdV1],
        CalicoApi::V3 => &[CalicoApi::V3],
    };
    let mut absent = Vec::new();
    for &api in candidates {
        let version = api.api_version();
        match client.list_api_group_resources(version).await {
            Ok(list) => {
                let missing: Vec<String> = CRD_KINDS
                    .iter()
                    .map(|k| CalicoApi::plural(*k))
                    .filter(|p| !list.resources.iter().any(|r| &r.name == p))
                    .collect();
                if missing.is_empty() {
                    return Ok(api);
                }
                absent.push(format!("{version} serves no {}", missing.join(", ")));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                absent.push(format!("{version} is not served"));
            }
            Err(e) => return Err(KubeError::from_kube(format!("discovery of {version}"), &e)),
        }
    }
    Err(KubeError::CalicoAbsent(format!(
        "no Calico BGP CRDs (bgppeers.crd.projectcalico.org, bgpconfigurations.crd.projectcalico.org, \
         or their projectcalico.org/v3 forms): {}; is Calico installed with the Kubernetes datastore?",
        absent.join("; ")
    )))
}

/// One collection rrd lists and watches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Feed {
    /// `Node` (core v1) or a Calico CRD.
    Calico(ResourceKind),
    /// One Secret, selected by `metadata.name` (as Calico watches them).
    Secret { namespace: String, name: String },
}

/// The three Calico feeds, in the order they are listed.
pub(crate) const CALICO_KINDS: [ResourceKind; 3] = [
    ResourceKind::BgpConfiguration,
    ResourceKind::BgpPeer,
    ResourceKind::Node,
];

impl Feed {
    /// `apiVersion` and `kind` of the feed's objects, for the Calico
    /// decoder (list items of core resources carry neither).
    pub fn api_version_and_kind(&self, api: CalicoApi) -> (&'static str, &'static str) {
        match self {
            Feed::Calico(ResourceKind::Node) => ("v1", "Node"),
            Feed::Calico(k) => (api.api_version(), k.kind()),
            Feed::Secret { .. } => ("v1", "Secret"),
        }
    }

    /// `metadata.name=<name>` for a Secret.
    pub fn field_selector(&self) -> Option<String> {
        match self {
            Feed::Secret { name, .. } => Some(format!("metadata.name={name}")),
            Feed::Calico(_) => None,
        }
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feed::Calico(k) => write!(f, "{k}s"),
            Feed::Secret { namespace, name } => write!(f, "Secret {namespace}/{name}"),
        }
    }
}

/// Nodes: only metadata (Calico's annotations and the labels); a Node's
/// status is most of its size. A server that ignores the projection
/// answers whole Nodes, which decode the same.
pub(crate) fn nodes(client: &kube::Client) -> Api<PartialObjectMeta<Node>> {
    Api::all(client.clone())
}

pub(crate) fn crds(
    client: &kube::Client,
    api: CalicoApi,
    kind: ResourceKind,
) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &api.resource(kind))
}

pub(crate) fn secrets(client: &kube::Client, namespace: &str) -> Api<Secret> {
    Api::namespaced(client.clone(), namespace)
}
