//! The in-test API server's data: objects of four resources, a global
//! resourceVersion, the event history since the last compaction, and the
//! requests seen. Pure and synchronous; [`super::server`] puts HTTP on it.
//!
//! Semantics follow the real API server (etcd underneath):
//!
//! * every write bumps one global resourceVersion, stored in the object's
//!   `metadata.resourceVersion`; a DELETED event carries the deletion's
//!   version;
//! * a list without `continue` is the latest state; `limit` cuts it into
//!   pages whose `continue` token pins the first page's version, so every
//!   page belongs to one snapshot;
//! * a watch from version R delivers every event after R; R older than the
//!   last compaction is 410 Gone (as an `ERROR` event on a 200 stream, like
//!   the watch cache, or as an HTTP 410 with [`ApiState::gone_as_http_status`]);
//!   so is a `continue` token from before it;
//! * list items of core resources (Nodes, Secrets) carry no `kind` and
//!   `apiVersion`; CRD items and watch events do.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::CalicoApi;

/// The collections the server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Nodes,
    BgpPeers,
    BgpConfigurations,
    Secrets,
}

impl Resource {
    pub const ALL: [Resource; 4] = [
        Resource::Nodes,
        Resource::BgpPeers,
        Resource::BgpConfigurations,
        Resource::Secrets,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Nodes => "Node",
            Resource::BgpPeers => "BGPPeer",
            Resource::BgpConfigurations => "BGPConfiguration",
            Resource::Secrets => "Secret",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Resource::Nodes | Resource::Secrets => "v1",
            _ => "crd.projectcalico.org/v1",
        }
    }

    fn core(self) -> bool {
        self.api_version() == "v1"
    }

    fn namespaced(self) -> bool {
        self == Resource::Secrets
    }

    /// The plural in URLs (`nodes`, `bgppeers`, ...).
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Nodes => "nodes",
            Resource::BgpPeers => "bgppeers",
            Resource::BgpConfigurations => "bgpconfigurations",
            Resource::Secrets => "secrets",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.kind() == kind)
    }

    /// The resource and namespace a collection path names.
    pub fn from_path(path: &str) -> Option<(Resource, Option<String>)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["api", "v1", "nodes"] => Some((Resource::Nodes, None)),
            ["api", "v1", "secrets"] => Some((Resource::Secrets, None)),
            ["api", "v1", "namespaces", ns, "secrets"] => {
                Some((Resource::Secrets, Some((*ns).to_owned())))
            }
            ["apis", "crd.projectcalico.org", "v1", "bgppeers"]
            | ["apis", "projectcalico.org", "v3", "bgppeers"] => Some((Resource::BgpPeers, None)),
            ["apis", "crd.projectcalico.org", "v1", "bgpconfigurations"]
            | ["apis", "projectcalico.org", "v3", "bgpconfigurations"] => {
                Some((Resource::BgpConfigurations, None))
            }
            _ => None,
        }
    }

    /// The Calico group a path is under, if any.
    pub fn calico_group(path: &str) -> Option<CalicoApi> {
        let path = path.trim_start_matches('/');
        if path.starts_with("apis/crd.projectcalico.org/v1") {
            Some(CalicoApi::CrdV1)
        } else if path.starts_with("apis/projectcalico.org/v3") {
            Some(CalicoApi::V3)
        } else {
            None
        }
    }
}

/// (resource, namespace or "", name)
pub type ObjectKey = (Resource, String, String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Clone, Debug)]
struct Logged {
    rv: u64,
    key: ObjectKey,
    kind: EventType,
    object: Value,
    previous: Option<Value>,
}

/// One request the server answered, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The `Accept` header.
    pub accept: String,
}

impl RecordedRequest {
    pub fn is_watch(&self) -> bool {
        self.query
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1")
    }

    pub fn resource(&self) -> Option<Resource> {
        Resource::from_path(&self.path).map(|(r, _)| r)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// What to filter a list or watch by, and how to show it.
#[derive(Clone, Debug)]
pub struct Selection {
    pub resource: Resource,
    pub namespace: Option<String>,
    /// `metadata.name=<name>`
    pub name: Option<String>,
    /// `Accept: ...;as=PartialObjectMetadata(List);g=meta.k8s.io;v=v1`:
    /// objects as `PartialObjectMetadata` (kind, apiVersion, metadata).
    pub metadata_only: bool,
    /// The Calico group a CRD is read through: its objects show that
    /// group's `apiVersion`.
    pub group: Option<CalicoApi>,
}

impl Selection {
    /// The `apiVersion` the selection's objects show.
    fn api_version(&self) -> &'static str {
        match self.group {
            Some(g) if !self.resource.core() => g.api_version(),
            _ => self.resource.api_version(),
        }
    }

    /// A stored object as this selection shows it (whole, in its group).
    fn whole(&self, object: &Value) -> Value {
        let mut o = object.clone();
        if !self.resource.core() {
            o["apiVersion"] = Value::from(self.api_version());
        }
        o
    }
}

/// An object as `PartialObjectMetadata`.
fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    })
}

impl Selection {
    fn matches(&self, key: &ObjectKey) -> bool {
        key.0 == self.resource
            && self.namespace.as_ref().is_none_or(|ns| *ns == key.1)
            && self.name.as_ref().is_none_or(|n| *n == key.2)
    }
}

/// An answer that is not a success.
#[derive(Clone, Debug)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn status_object(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }

    pub fn expired(message: String) -> Failure {
        Failure {
            code: 410,
            reason: "Expired",
            message,
        }
    }
}

/// A hook run once, right after the first page of a paged list was cut.
pub type ListHook = Box<dyn FnOnce(&mut ApiState) + Send>;

/// Everything the server knows.
pub struct ApiState {
    rv: u64,
    /// Watches and `continue` tokens from before this version get 410.
    oldest: u64,
    objects: BTreeMap<ObjectKey, Value>,
    log: Vec<Logged>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Answer a too-old watch with HTTP 410 instead of a 200 stream with
    /// an `ERROR` event (both happen with real API servers).
    pub gone_as_http_status: bool,
    /// Honour `as=PartialObjectMetadata` requests (true, like every API
    /// server since 1.15); false answers with whole objects.
    pub metadata_projection: bool,
    /// Resources the client may not read (RBAC): 403 Forbidden.
    pub forbidden: std::collections::BTreeSet<Resource>,
    /// Resources whose CRD is not installed: 404 Not Found.
    pub not_installed: std::collections::BTreeSet<Resource>,
    /// The groups Calico's CRDs are served in (discovery and paths):
    /// `crd.projectcalico.org/v1` unless a test says otherwise.
    pub calico_groups: std::collections::BTreeSet<CalicoApi>,
    pub(crate) list_hook: Option<ListHook>,
    /// Bumped to make open watches send a bookmark.
    pub(crate) bookmark_epoch: u64,
    /// Bumped to make open watches end cleanly (after pending events).
    pub(crate) end_epoch: u64,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("rv", &self.rv)
            .field("oldest", &self.oldest)
            .field("objects", &self.objects.len())
            .field("history", &self.log.len())
            .finish()
    }
}

impl Default for ApiState {
    fn default() -> Self {
        ApiState {
            rv: 1,
            oldest: 1,
            objects: BTreeMap::new(),
            log: Vec::new(),
            requests: Vec::new(),
            gone_as_http_status: false,
            metadata_projection: true,
            forbidden: Default::default(),
            not_installed: Default::default(),
            calico_groups: [CalicoApi::CrdV1].into(),
            list_hook: None,
            bookmark_epoch: 0,
            end_epoch: 0,
        }
    }
}

fn key_of(object: &Value) -> Result<ObjectKey, String> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource = Resource::from_kind(kind).ok_or_else(|| format!("unknown kind {kind:?}"))?;
    let meta = object.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or("metadata.name missing")?
        .to_owned();
    let ns = if resource.namespaced() {
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned()
    } else {
        String::new()
    };
    Ok((resource, ns, name))
}

impl ApiState {
    /// Run `hook` once, right after the next paged list's first page was
    /// cut (to change the data between two pages).
    pub fn after_first_page(&mut self, hook: impl FnOnce(&mut ApiState) + Send + 'static) {
        self.list_hook = Some(Box::new(hook));
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Create or replace an object (`kind` + `metadata.name`, and
    /// `metadata.namespace` for Secrets). Secrets may be given with
    /// `stringData`, which is stored base64-encoded in `data` as the API
    /// server does. Returns the new resourceVersion.
    pub fn apply(&mut self, mut object: Value) -> u64 {
        let key = key_of(&object).unwrap_or_else(|e| panic!("cannot store {object}: {e}"));
        if key.0 == Resource::Secrets {
            if let Some(Value::Object(sd)) =
                object.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                for (k, v) in sd {
                    let b64 = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    object["data"][k] = Value::from(b64);
                }
            }
        }
        self.rv += 1;
        let rv = self.rv;
        let previous = self.objects.get(&key).cloned();
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = Value::from(rv.to_string());
        meta["uid"] = previous
            .as_ref()
            .and_then(|p| p["metadata"].get("uid").cloned())
            .unwrap_or_else(|| Value::from(format!("uid-{rv}")));
        if key.0.namespaced() {
            meta["namespace"] = Value::from(key.1.clone());
        }
        self.objects.insert(key.clone(), object.clone());
        self.log.push(Logged {
            rv,
            key,
            kind: if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            object,
            previous,
        });
        rv
    }

    /// Delete an object; false when there was none.
    pub fn delete(&mut self, resource: Resource, namespace: &str, name: &str) -> bool {
        let ns = if resource.namespaced() { namespace } else { "" };
        let key = (resource, ns.to_owned(), name.to_owned());
        let Some(previous) = self.objects.remove(&key) else {
            return false;
        };
        self.rv += 1;
        let mut object = previous.clone();
        object["metadata"]["resourceVersion"] = Value::from(self.rv.to_string());
        self.log.push(Logged {
            rv: self.rv,
            key,
            kind: EventType::Deleted,
            object,
            previous: Some(previous),
        });
        true
    }

    /// Make one resource hold exactly `objects` (only what differs is
    /// written, as `kubectl apply --prune` would).
    pub fn set_all(&mut self, resource: Resource, objects: Vec<Value>) {
        let mut want = BTreeMap::new();
        for o in objects {
            let key = key_of(&o).unwrap_or_else(|e| panic!("cannot store {o}: {e}"));
            assert_eq!(key.0, resource, "{o} is not a {}", resource.kind());
            want.insert(key, o);
        }
        let gone: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.0 == resource && !want.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            self.delete(k.0, &k.1, &k.2);
        }
        for (k, o) in want {
            if self
                .objects
                .get(&k)
                .is_some_and(|have| same_content(have, &o))
            {
                continue;
            }
            self.apply(o);
        }
    }

    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<&Value> {
        let ns = if resource.namespaced() { namespace } else { "" };
        self.objects
            .get(&(resource, ns.to_owned(), name.to_owned()))
    }

    /// Forget all history: watches and `continue` tokens from before now
    /// get 410 Gone.
    pub fn compact(&mut self) {
        self.oldest = self.rv;
        self.log.clear();
    }

    /// The objects selected at version `at` (which must not be older than
    /// the last compaction).
    fn state_at(&self, at: u64, sel: &Selection) -> BTreeMap<ObjectKey, Value> {
        let mut state: BTreeMap<ObjectKey, Value> = self
            .objects
            .iter()
            .filter(|(k, _)| sel.matches(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for e in self.log.iter().rev().take_while(|e| e.rv > at) {
            if !sel.matches(&e.key) {
                continue;
            }
            match (&e.kind, &e.previous) {
                (EventType::Added, _) => {
                    state.remove(&e.key);
                }
                (_, Some(p)) => {
                    state.insert(e.key.clone(), p.clone());
                }
                (_, None) => {}
            }
        }
        state
    }

    /// One list page (`limit` 0: everything).
    pub fn list(
        &mut self,
        sel: &Selection,
        limit: usize,
        continue_token: Option<&str>,
    ) -> Result<Value, Failure> {
        let (at, after) = match continue_token {
            None => (self.rv, None),
            Some(token) => {
                let (at, after) = decode_continue(token).ok_or_else(|| Failure {
                    code: 400,
                    reason: "BadRequest",
                    message: "continue key is not valid".into(),
                })?;
                if at < self.oldest {
                    return Err(Failure::expired(
                        "The provided continue parameter is too old to display a consistent list \
                         result. You can start a new list without the continue parameter."
                            .into(),
                    ));
                }
                (at, Some(after))
            }
        };
        let state = self.state_at(at, sel);
        let mut rest: Vec<(ObjectKey, Value)> = state
            .into_iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| (&k.1, &k.2) > (&a.0, &a.1)))
            .collect();
        let mut token = None;
        let mut remaining = 0;
        if limit > 0 && rest.len() > limit {
            remaining = rest.len() - limit;
            rest.truncate(limit);
            let last = &rest[limit - 1].0;
            token = Some(encode_continue(at, &last.1, &last.2));
        }
        let items: Vec<Value> = rest
            .into_iter()
            .map(|(_, o)| {
                if sel.metadata_only {
                    return partial(&o);
                }
                let mut o = sel.whole(&o);
                if sel.resource.core() {
                    if let Some(m) = o.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                }
                o
            })
            .collect();
        let mut metadata = json!({ "resourceVersion": at.to_string() });
        if let Some(t) = &token {
            metadata["continue"] = Value::from(t.clone());
            metadata["remainingItemCount"] = Value::from(remaining);
        }
        let (kind, api_version) = if sel.metadata_only {
            ("PartialObjectMetadataList".to_owned(), "meta.k8s.io/v1")
        } else {
            (format!("{}List", sel.resource.kind()), sel.api_version())
        };
        let list = json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": metadata,
            "items": items,
        });
        if token.is_some() && continue_token.is_none() {
            if let Some(hook) = self.list_hook.take() {
                hook(self);
            }
        }
        Ok(list)
    }

    /// Whether a watch may start after version `from`.
    pub fn check_watch_from(&self, from: u64) -> Result<(), Failure> {
        if from < self.oldest {
            return Err(Failure::expired(format!(
                "too old resource version: {from} ({})",
                self.oldest
            )));
        }
        Ok(())
    }

    /// Events after `from` for the selection, as watch documents, and the
    /// version they bring the watch to.
    pub fn events_after(&self, from: u64, sel: &Selection) -> (Vec<Value>, u64) {
        let events = self
            .log
            .iter()
            .filter(|e| e.rv > from && sel.matches(&e.key))
            .map(|e| json!({ "type": e.kind.as_str(), "object": show(sel, &e.object) }))
            .collect();
        (events, self.rv.max(from))
    }

    /// The current objects as synthetic ADDED events (a watch without a
    /// resourceVersion).
    pub fn current_as_added(&self, sel: &Selection) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| sel.matches(k))
            .map(|(_, o)| json!({ "type": "ADDED", "object": show(sel, o) }))
            .collect()
    }

    /// The APIResourceList of a Calico group (`None`: not served).
    pub fn calico_resources(&self, group: CalicoApi) -> Option<Value> {
        if !self.calico_groups.contains(&group) {
            return None;
        }
        let resources: Vec<Value> = [Resource::BgpPeers, Resource::BgpConfigurations]
            .into_iter()
            .filter(|r| !self.not_installed.contains(r))
            .map(|r| {
                json!({
                    "name": r.plural(),
                    "singularName": r.kind().to_lowercase(),
                    "namespaced": false,
                    "kind": r.kind(),
                    "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                })
            })
            .collect();
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group.api_version(),
            "resources": resources,
        }))
    }

    /// `/apis`: the groups served.
    pub fn api_groups(&self) -> Value {
        let groups: Vec<Value> = self
            .calico_groups
            .iter()
            .map(|g| {
                let (group, version) = g.api_version().split_once('/').expect("group/version");
                let v = json!({ "groupVersion": g.api_version(), "version": version });
                json!({ "name": group, "versions": [v.clone()], "preferredVersion": v })
            })
            .collect();
        json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
    }

    pub fn bookmark(&self, sel: &Selection) -> Value {
        let object = json!({
            "kind": sel.resource.kind(),
            "apiVersion": sel.api_version(),
            "metadata": { "resourceVersion": self.rv.to_string() },
        });
        json!({ "type": "BOOKMARK", "object": show(sel, &object) })
    }
}

/// A watch event's object as the selection shows it.
fn show(sel: &Selection, object: &Value) -> Value {
    if sel.metadata_only {
        partial(object)
    } else {
        sel.whole(object)
    }
}

/// Objects equal but for server-set metadata.
fn same_content(have: &Value, want: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("uid");
            if m.get("namespace").is_some() && want["metadata"].get("namespace").is_none() {
                m.remove("namespace");
            }
        }
        v
    };
    strip(have) == strip(want)
}

fn encode_continue(at: u64, ns: &str, name: &str) -> String {
    let raw = json!({ "rv": at, "ns": ns, "start": name }).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Option<(u64, (String, String))> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((
        v["rv"].as_u64()?,
        (
            v["ns"].as_str()?.to_owned(),
            v["start"].as_str()?.to_owned(),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    }

    fn nodes() -> Selection {
        Selection {
            resource: Resource::Nodes,
            namespace: None,
            name: None,
            metadata_only: false,
            group: None,
        }
    }

    fn names(list: &Value) -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn pages_belong_to_the_first_pages_snapshot() {
        let mut s = ApiState::default();
        for n in ["a", "b", "c", "d"] {
            s.apply(node(n));
        }
        let first = s.list(&nodes(), 2, None).unwrap();
        assert_eq!(names(&first), ["a", "b"]);
        assert!(
            first["items"][0].get("kind").is_none(),
            "core list items carry no kind"
        );
        s.delete(Resource::Nodes, "", "c");
        s.apply(node("e"));
        let token = first["metadata"]["continue"].as_str().unwrap();
        let second = s.list(&nodes(), 2, Some(token)).unwrap();
        assert_eq!(names(&second), ["c", "d"], "the page still sees c, not e");
        assert!(second["metadata"].get("continue").is_none());
        assert_eq!(
            second["metadata"]["resourceVersion"],
            first["metadata"]["resourceVersion"]
        );
        s.compact();
        let e = s.list(&nodes(), 2, Some(token)).unwrap_err();
        assert_eq!(e.code, 410);
    }

    #[test]
    fn watches_see_events_after_their_version_and_410_before_compaction() {
        let mut s = ApiState::default();
        let v1 = s.apply(node("a"));
        s.apply(node("b"));
        s.delete(Resource::Nodes, "", "a");
        let (events, at) = s.events_after(v1, &nodes());
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["ADDED", "DELETED"]);
        assert_eq!(at, s.resource_version());
        s.compact();
        assert!(s.check_watch_from(v1).is_err());
        assert!(s.check_watch_from(s.resource_version()).is_ok());
    }
}
