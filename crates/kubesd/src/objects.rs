//! Slim views of the Kubernetes objects the discovery reads.
//!
//! Only the fields the meta labels need are decoded (serde ignores the rest,
//! notably `managedFields`), which keeps decoding cheap and the in-memory
//! stores small. `null` decodes as the empty value, as Go's decoder does.
//! [`Obj`] wraps one object for `kube::runtime::watcher`: it never fails to
//! decode, so one malformed object cannot fail a whole list; the per-object
//! error is kept and logged by the discovery.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Debug;

fn nd<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nd")]
    pub uid: String,
    #[serde(default, deserialize_with = "nd")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nd")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nd")]
    pub owner_references: Vec<OwnerReference>,
}

/// `metadata.ownerReferences[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OwnerReference {
    #[serde(default, deserialize_with = "nd")]
    pub kind: String,
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// `ObjectReference` (`targetRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectRef {
    #[serde(default, deserialize_with = "nd")]
    pub kind: String,
    #[serde(default, deserialize_with = "nd")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
}

/// core/v1 Pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Pod {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub spec: PodSpec,
    #[serde(default, deserialize_with = "nd")]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "nd")]
    pub node_name: String,
    #[serde(default, deserialize_with = "nd")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "nd")]
    pub init_containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub image: String,
    #[serde(default, deserialize_with = "nd")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub container_port: i32,
    #[serde(default, deserialize_with = "nd")]
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, deserialize_with = "nd")]
    pub phase: String,
    #[serde(default, deserialize_with = "nd", rename = "podIP")]
    pub pod_ip: String,
    #[serde(default, deserialize_with = "nd", rename = "hostIP")]
    pub host_ip: String,
    #[serde(default, deserialize_with = "nd")]
    pub conditions: Vec<Condition>,
    #[serde(default, deserialize_with = "nd")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(default, deserialize_with = "nd")]
    pub init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Condition {
    #[serde(default, deserialize_with = "nd", rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "nd")]
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ContainerStatus {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd", rename = "containerID")]
    pub container_id: String,
}

/// core/v1 Node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Node {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub spec: NodeSpec,
    #[serde(default, deserialize_with = "nd")]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeSpec {
    #[serde(default, deserialize_with = "nd", rename = "providerID")]
    pub provider_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default, deserialize_with = "nd")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default, deserialize_with = "nd")]
    pub daemon_endpoints: DaemonEndpoints,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NodeAddress {
    #[serde(default, deserialize_with = "nd", rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "nd")]
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonEndpoints {
    #[serde(default, deserialize_with = "nd")]
    pub kubelet_endpoint: KubeletEndpoint,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct KubeletEndpoint {
    #[serde(default, deserialize_with = "nd", rename = "Port")]
    pub port: i32,
}

/// core/v1 Service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Service {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default, deserialize_with = "nd")]
    pub ports: Vec<ServicePort>,
    #[serde(default, deserialize_with = "nd", rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "nd", rename = "clusterIP")]
    pub cluster_ip: String,
    #[serde(default, deserialize_with = "nd")]
    pub external_name: String,
    #[serde(default, deserialize_with = "nd", rename = "loadBalancerIP")]
    pub load_balancer_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ServicePort {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub port: i32,
    #[serde(default, deserialize_with = "nd")]
    pub protocol: String,
}

/// core/v1 Endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Endpoints {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub subsets: Vec<EndpointSubset>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    #[serde(default, deserialize_with = "nd")]
    pub addresses: Vec<EndpointAddress>,
    #[serde(default, deserialize_with = "nd")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default, deserialize_with = "nd")]
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    #[serde(default, deserialize_with = "nd")]
    pub ip: String,
    #[serde(default, deserialize_with = "nd")]
    pub hostname: String,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub target_ref: Option<ObjectRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub port: i32,
    #[serde(default, deserialize_with = "nd")]
    pub protocol: String,
    #[serde(default)]
    pub app_protocol: Option<String>,
}

/// discovery.k8s.io/v1 EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSlice {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub address_type: String,
    #[serde(default, deserialize_with = "nd")]
    pub endpoints: Vec<SliceEndpoint>,
    #[serde(default, deserialize_with = "nd")]
    pub ports: Vec<SlicePort>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceEndpoint {
    #[serde(default, deserialize_with = "nd")]
    pub addresses: Vec<String>,
    #[serde(default, deserialize_with = "nd")]
    pub conditions: SliceConditions,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub target_ref: Option<ObjectRef>,
    #[serde(default, deserialize_with = "nd")]
    pub deprecated_topology: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SliceConditions {
    #[serde(default)]
    pub ready: Option<bool>,
    #[serde(default)]
    pub serving: Option<bool>,
    #[serde(default)]
    pub terminating: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlicePort {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub port: Option<i32>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub app_protocol: Option<String>,
}

/// networking.k8s.io/v1 Ingress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Ingress {
    #[serde(default, deserialize_with = "nd")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nd")]
    pub spec: IngressSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    #[serde(default)]
    pub ingress_class_name: Option<String>,
    #[serde(default, deserialize_with = "nd")]
    pub rules: Vec<IngressRule>,
    #[serde(default, deserialize_with = "nd")]
    pub tls: Vec<IngressTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IngressRule {
    #[serde(default, deserialize_with = "nd")]
    pub host: String,
    #[serde(default)]
    pub http: Option<IngressHttp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IngressHttp {
    #[serde(default, deserialize_with = "nd")]
    pub paths: Vec<IngressPath>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IngressPath {
    #[serde(default, deserialize_with = "nd")]
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IngressTls {
    #[serde(default, deserialize_with = "nd")]
    pub hosts: Vec<String>,
}

/// Type-level description of a watched kind.
pub trait KubeKind: DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    /// `kind`
    const KIND: &'static str;
    /// API group, empty for core.
    const GROUP: &'static str;
    /// API version.
    const VERSION: &'static str;
    /// Plural resource name used in paths.
    const PLURAL: &'static str;
    /// Namespaced or cluster scoped.
    type Scope;
    /// The object's metadata.
    fn meta(&self) -> &Meta;
}

macro_rules! kind {
    ($t:ty, $kind:expr, $group:expr, $ver:expr, $plural:expr, $scope:ty) => {
        impl KubeKind for $t {
            const KIND: &'static str = $kind;
            const GROUP: &'static str = $group;
            const VERSION: &'static str = $ver;
            const PLURAL: &'static str = $plural;
            type Scope = $scope;
            fn meta(&self) -> &Meta {
                &self.metadata
            }
        }
    };
}

kind!(Pod, "Pod", "", "v1", "pods", NamespaceResourceScope);
kind!(Node, "Node", "", "v1", "nodes", ClusterResourceScope);
kind!(
    Service,
    "Service",
    "",
    "v1",
    "services",
    NamespaceResourceScope
);
kind!(
    Endpoints,
    "Endpoints",
    "",
    "v1",
    "endpoints",
    NamespaceResourceScope
);
kind!(
    EndpointSlice,
    "EndpointSlice",
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    NamespaceResourceScope
);
kind!(
    Ingress,
    "Ingress",
    "networking.k8s.io",
    "v1",
    "ingresses",
    NamespaceResourceScope
);

/// One object as received from the API: its identity, and the decoded body
/// or the decoding error.
#[derive(Debug, Clone)]
pub struct Obj<T> {
    meta: ObjectMeta,
    /// The decoded object, or why it could not be decoded.
    pub parsed: Result<T, String>,
}

impl<T> Obj<T> {
    /// `metadata.name`
    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or("")
    }
    /// `metadata.namespace`
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or("")
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let md = v.get("metadata");
        let s = |k: &str| {
            md.and_then(|m| m.get(k))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let meta = ObjectMeta {
            name: s("name"),
            namespace: s("namespace"),
            resource_version: s("resourceVersion"),
            ..ObjectMeta::default()
        };
        let parsed = serde_json::from_value::<T>(v).map_err(|e| e.to_string());
        Ok(Obj { meta, parsed })
    }
}

impl<T: KubeKind> kube::Resource for Obj<T> {
    type DynamicType = ();
    type Scope = T::Scope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(T::PLURAL)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

/// The API path of a kind, for one namespace or all (used in error messages
/// and by the fake server).
pub fn api_path(group: &str, version: &str, plural: &str, namespace: Option<&str>) -> String {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    match namespace {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
        None => format!("{prefix}/{plural}"),
    }
}
