//! Target groups and `__meta_kubernetes_*` labels for each role, as
//! Prometheus' `discovery/kubernetes/{pod,node,service,endpoints,endpointslice,ingress}.go`
//! build them. Pure functions of the objects, so they are tested directly.

use crate::objects::{
    Container, ContainerStatus, EndpointAddress, EndpointPort, EndpointSlice, Endpoints, Ingress,
    Meta, Node, ObjectRef, Pod, Service, SliceEndpoint, SlicePort,
};
use crate::{LabelSet, TargetGroup};
use std::collections::BTreeMap;

const META: &str = "__meta_kubernetes_";
const ADDRESS: &str = "__address__";
const NAMESPACE: &str = "__meta_kubernetes_namespace";
const PRESENT: &str = "true";

/// `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn set(ls: &mut LabelSet, k: impl Into<String>, v: impl Into<String>) {
    ls.insert(k.into(), v.into());
}

/// `addObjectMetaLabels`: `<role>_name`, `_label_`, `_labelpresent_`,
/// `_annotation_`, `_annotationpresent_`.
fn add_object_meta_labels(ls: &mut LabelSet, meta: &Meta, role: &str) {
    set(ls, format!("{META}{role}_name"), meta.name.as_str());
    for (k, v) in &meta.labels {
        let ln = sanitize_label_name(k);
        set(ls, format!("{META}{role}_label_{ln}"), v.as_str());
        set(ls, format!("{META}{role}_labelpresent_{ln}"), PRESENT);
    }
    for (k, v) in &meta.annotations {
        let ln = sanitize_label_name(k);
        set(ls, format!("{META}{role}_annotation_{ln}"), v.as_str());
        set(ls, format!("{META}{role}_annotationpresent_{ln}"), PRESENT);
    }
}

/// `addNodeLabels` (attach_metadata.node): node name, labels and labelpresent.
pub fn add_node_labels(
    ls: &mut LabelSet,
    node_name: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<Node>,
) {
    let Some(name) = node_name else { return };
    let Some(node) = lookup(name) else { return };
    set(ls, format!("{META}node_name"), name);
    for (k, v) in &node.metadata.labels {
        let ln = sanitize_label_name(k);
        set(ls, format!("{META}node_label_{ln}"), v.as_str());
        set(ls, format!("{META}node_labelpresent_{ln}"), PRESENT);
    }
}

// ---------------------------------------------------------------- pod

/// `pod/<namespace>/<name>`
pub fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

fn pod_ready(pod: &Pod) -> String {
    for c in &pod.status.conditions {
        if c.kind == "Ready" {
            return c.status.to_lowercase();
        }
    }
    "unknown".to_string()
}

/// `podLabels`: the pod-level labels shared by all its targets.
pub fn pod_labels(pod: &Pod) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, format!("{META}pod_ip"), pod.status.pod_ip.as_str());
    set(&mut ls, format!("{META}pod_ready"), pod_ready(pod));
    set(
        &mut ls,
        format!("{META}pod_phase"),
        pod.status.phase.as_str(),
    );
    set(
        &mut ls,
        format!("{META}pod_node_name"),
        pod.spec.node_name.as_str(),
    );
    set(
        &mut ls,
        format!("{META}pod_host_ip"),
        pod.status.host_ip.as_str(),
    );
    set(&mut ls, format!("{META}pod_uid"), pod.metadata.uid.as_str());
    add_object_meta_labels(&mut ls, &pod.metadata, "pod");
    if let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        if !owner.kind.is_empty() {
            set(
                &mut ls,
                format!("{META}pod_controller_kind"),
                owner.kind.as_str(),
            );
        }
        if !owner.name.is_empty() {
            set(
                &mut ls,
                format!("{META}pod_controller_name"),
                owner.name.as_str(),
            );
        }
    }
    ls
}

fn container_id(statuses: &[ContainerStatus], name: &str) -> String {
    statuses
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.container_id.clone())
        .unwrap_or_default()
}

/// All containers then init containers, with the "is init" flag.
fn all_containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    pod.spec
        .containers
        .iter()
        .map(|c| (c, false))
        .chain(pod.spec.init_containers.iter().map(|c| (c, true)))
}

/// `buildPod`: one target per declared container port, else one per container
/// (init containers included). A pod without IP gives an empty group.
pub fn build_pod(pod: &Pod, node: &dyn Fn(&str) -> Option<Node>, attach_node: bool) -> TargetGroup {
    let mut tg = TargetGroup::empty(pod_source(&pod.metadata.namespace, &pod.metadata.name));
    if pod.status.pod_ip.is_empty() {
        return tg;
    }
    tg.labels = pod_labels(pod);
    set(&mut tg.labels, NAMESPACE, pod.metadata.namespace.as_str());
    if attach_node {
        add_node_labels(&mut tg.labels, Some(&pod.spec.node_name), node);
    }
    let ip = &pod.status.pod_ip;
    for (c, is_init) in all_containers(pod) {
        let statuses = if is_init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let cid = container_id(statuses, &c.name);
        if c.ports.is_empty() {
            let mut t = LabelSet::new();
            set(&mut t, ADDRESS, ip.as_str());
            set(&mut t, format!("{META}pod_container_name"), c.name.as_str());
            set(&mut t, format!("{META}pod_container_id"), cid.as_str());
            set(
                &mut t,
                format!("{META}pod_container_image"),
                c.image.as_str(),
            );
            set(
                &mut t,
                format!("{META}pod_container_init"),
                is_init.to_string(),
            );
            tg.targets.push(t);
            continue;
        }
        for p in &c.ports {
            let port = p.container_port.to_string();
            let mut t = LabelSet::new();
            set(&mut t, ADDRESS, join_host_port(ip, &port));
            set(&mut t, format!("{META}pod_container_name"), c.name.as_str());
            set(&mut t, format!("{META}pod_container_id"), cid.as_str());
            set(
                &mut t,
                format!("{META}pod_container_image"),
                c.image.as_str(),
            );
            set(&mut t, format!("{META}pod_container_port_number"), port);
            set(
                &mut t,
                format!("{META}pod_container_port_name"),
                p.name.as_str(),
            );
            set(
                &mut t,
                format!("{META}pod_container_port_protocol"),
                p.protocol.as_str(),
            );
            set(
                &mut t,
                format!("{META}pod_container_init"),
                is_init.to_string(),
            );
            tg.targets.push(t);
        }
    }
    tg
}

// ---------------------------------------------------------------- node

/// `node/<name>`
pub fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// `nodeAddress`: first address by type priority, and all addresses by type.
fn node_address(node: &Node) -> (Option<String>, BTreeMap<String, Vec<String>>) {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &node.status.addresses {
        m.entry(a.kind.clone()).or_default().push(a.address.clone());
    }
    for ty in [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ] {
        if let Some(first) = m.get(ty).and_then(|v| v.first()) {
            return (Some(first.clone()), m);
        }
    }
    (None, m)
}

/// `buildNode`: one target at the kubelet port. `None` when the node has no
/// usable address (Prometheus logs "No node address found" and sends nothing).
pub fn build_node(node: &Node) -> Option<TargetGroup> {
    let mut tg = TargetGroup::empty(node_source(&node.metadata.name));
    set(
        &mut tg.labels,
        format!("{META}node_provider_id"),
        node.spec.provider_id.as_str(),
    );
    add_object_meta_labels(&mut tg.labels, &node.metadata, "node");
    let (addr, all) = node_address(node);
    let addr = addr?;
    let mut t = LabelSet::new();
    set(
        &mut t,
        ADDRESS,
        join_host_port(&addr, node.status.daemon_endpoints.kubelet_endpoint.port),
    );
    set(&mut t, "instance", node.metadata.name.as_str());
    for (ty, addrs) in &all {
        if let Some(a) = addrs.first() {
            set(
                &mut t,
                sanitize_label_name(&format!("{META}node_address_{ty}")),
                a.as_str(),
            );
        }
    }
    tg.targets.push(t);
    Some(tg)
}

// ---------------------------------------------------------------- service

/// `svc/<namespace>/<name>`
pub fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// `serviceLabels`: namespace and the service's object meta labels.
pub fn service_labels(svc: &Service) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, NAMESPACE, svc.metadata.namespace.as_str());
    add_object_meta_labels(&mut ls, &svc.metadata, "service");
    ls
}

/// `buildService`: one target per service port at `<name>.<ns>.svc:<port>`.
pub fn build_service(svc: &Service) -> TargetGroup {
    let mut tg = TargetGroup::empty(service_source(&svc.metadata.namespace, &svc.metadata.name));
    tg.labels = service_labels(svc);
    for p in &svc.spec.ports {
        let host = format!("{}.{}.svc", svc.metadata.name, svc.metadata.namespace);
        let mut t = LabelSet::new();
        set(&mut t, ADDRESS, join_host_port(&host, p.port));
        set(&mut t, format!("{META}service_port_name"), p.name.as_str());
        set(
            &mut t,
            format!("{META}service_port_number"),
            p.port.to_string(),
        );
        set(
            &mut t,
            format!("{META}service_port_protocol"),
            p.protocol.as_str(),
        );
        set(
            &mut t,
            format!("{META}service_type"),
            svc.spec.kind.as_str(),
        );
        if svc.spec.kind == "ExternalName" {
            set(
                &mut t,
                format!("{META}service_external_name"),
                svc.spec.external_name.as_str(),
            );
        } else {
            set(
                &mut t,
                format!("{META}service_cluster_ip"),
                svc.spec.cluster_ip.as_str(),
            );
        }
        if svc.spec.kind == "LoadBalancer" {
            set(
                &mut t,
                format!("{META}service_loadbalancer_ip"),
                svc.spec.load_balancer_ip.as_str(),
            );
        }
        tg.targets.push(t);
    }
    tg
}

// ---------------------------------------------------------------- endpoints

/// `endpoints/<namespace>/<name>`
pub fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// Lookups into the discovery's stores, for the roles that join objects.
pub struct Lookup<'a> {
    /// Pod by namespace and name.
    pub pod: &'a dyn Fn(&str, &str) -> Option<Pod>,
    /// Service by namespace and name.
    pub service: &'a dyn Fn(&str, &str) -> Option<Service>,
    /// Node by name.
    pub node: &'a dyn Fn(&str) -> Option<Node>,
    /// attach_metadata.node
    pub attach_node: bool,
}

fn resolve_pod(l: &Lookup<'_>, r: Option<&ObjectRef>) -> Option<Pod> {
    let r = r?;
    if r.kind != "Pod" {
        return None;
    }
    (l.pod)(&r.namespace, &r.name)
}

fn merge(t: &mut LabelSet, other: LabelSet) {
    for (k, v) in other {
        t.insert(k, v);
    }
}

/// Targets for the container ports of pods that no endpoint port covered.
fn uncovered_container_targets(tg: &mut TargetGroup, seen: &[(Pod, Vec<Option<i32>>)]) {
    for (pod, ports) in seen {
        if pod.status.pod_ip.is_empty() {
            continue;
        }
        for (c, is_init) in all_containers(pod) {
            for cp in &c.ports {
                if ports.contains(&Some(cp.container_port)) {
                    continue;
                }
                let port = cp.container_port.to_string();
                let mut t = LabelSet::new();
                set(&mut t, ADDRESS, join_host_port(&pod.status.pod_ip, &port));
                set(&mut t, format!("{META}pod_container_name"), c.name.as_str());
                set(
                    &mut t,
                    format!("{META}pod_container_image"),
                    c.image.as_str(),
                );
                set(
                    &mut t,
                    format!("{META}pod_container_port_name"),
                    cp.name.as_str(),
                );
                set(&mut t, format!("{META}pod_container_port_number"), port);
                set(
                    &mut t,
                    format!("{META}pod_container_port_protocol"),
                    cp.protocol.as_str(),
                );
                set(
                    &mut t,
                    format!("{META}pod_container_init"),
                    is_init.to_string(),
                );
                merge(&mut t, pod_labels(pod));
                tg.targets.push(t);
            }
        }
    }
}

fn seen_entry<'a>(
    seen: &'a mut Vec<(Pod, Vec<Option<i32>>)>,
    pod: &Pod,
) -> &'a mut Vec<Option<i32>> {
    let idx = match seen.iter().position(|(p, _)| {
        p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name
    }) {
        Some(i) => i,
        None => {
            seen.push((pod.clone(), Vec::new()));
            seen.len() - 1
        }
    };
    &mut seen[idx].1
}

/// `buildEndpoints`.
pub fn build_endpoints(eps: &Endpoints, l: &Lookup<'_>) -> TargetGroup {
    let ns = &eps.metadata.namespace;
    let mut tg = TargetGroup::empty(endpoints_source(ns, &eps.metadata.name));
    set(&mut tg.labels, NAMESPACE, ns.as_str());
    if let Some(svc) = (l.service)(ns, &eps.metadata.name) {
        merge(&mut tg.labels, service_labels(&svc));
    }
    add_object_meta_labels(&mut tg.labels, &eps.metadata, "endpoints");

    let mut seen: Vec<(Pod, Vec<Option<i32>>)> = Vec::new();
    let mut add =
        |tg: &mut TargetGroup, addr: &EndpointAddress, port: &EndpointPort, ready: &str| {
            let mut t = LabelSet::new();
            set(&mut t, ADDRESS, join_host_port(&addr.ip, port.port));
            set(
                &mut t,
                format!("{META}endpoint_port_name"),
                port.name.as_str(),
            );
            set(
                &mut t,
                format!("{META}endpoint_port_protocol"),
                port.protocol.as_str(),
            );
            set(&mut t, format!("{META}endpoint_ready"), ready);
            if let Some(ap) = &port.app_protocol {
                set(
                    &mut t,
                    format!("{META}endpoint_port_app_protocol"),
                    ap.as_str(),
                );
            }
            if let Some(r) = &addr.target_ref {
                set(
                    &mut t,
                    format!("{META}endpoint_address_target_kind"),
                    r.kind.as_str(),
                );
                set(
                    &mut t,
                    format!("{META}endpoint_address_target_name"),
                    r.name.as_str(),
                );
            }
            if let Some(n) = &addr.node_name {
                set(&mut t, format!("{META}endpoint_node_name"), n.as_str());
            }
            if !addr.hostname.is_empty() {
                set(
                    &mut t,
                    format!("{META}endpoint_hostname"),
                    addr.hostname.as_str(),
                );
            }
            if l.attach_node {
                let node_ref = match (&addr.node_name, &addr.target_ref) {
                    (None, Some(r)) if r.kind == "Node" => Some(r.name.as_str()),
                    (n, _) => n.as_deref(),
                };
                add_node_labels(&mut t, node_ref, l.node);
            }
            let Some(pod) = resolve_pod(l, addr.target_ref.as_ref()) else {
                tg.targets.push(t);
                return;
            };
            merge(&mut t, pod_labels(&pod));
            'outer: for (c, is_init) in all_containers(&pod) {
                for cp in &c.ports {
                    if cp.container_port == port.port {
                        set(&mut t, format!("{META}pod_container_name"), c.name.as_str());
                        set(
                            &mut t,
                            format!("{META}pod_container_image"),
                            c.image.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_name"),
                            cp.name.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_number"),
                            port.port.to_string(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_protocol"),
                            port.protocol.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_init"),
                            is_init.to_string(),
                        );
                        break 'outer;
                    }
                }
            }
            seen_entry(&mut seen, &pod).push(Some(port.port));
            tg.targets.push(t);
        };
    for ss in &eps.subsets {
        for port in &ss.ports {
            for addr in &ss.addresses {
                add(&mut tg, addr, port, "true");
            }
            for addr in &ss.not_ready_addresses {
                add(&mut tg, addr, port, "false");
            }
        }
    }
    match eps
        .metadata
        .labels
        .get("endpoints.kubernetes.io/over-capacity")
        .map(String::as_str)
    {
        Some("truncated") => tracing::warn!(
            endpoint = %eps.metadata.name,
            "Number of endpoints in one Endpoints object exceeds 1000 and has been truncated, please use \"role: endpointslice\" instead"
        ),
        Some("warning") => tracing::warn!(
            endpoint = %eps.metadata.name,
            "Number of endpoints in one Endpoints object exceeds 1000, please use \"role: endpointslice\" instead"
        ),
        _ => {}
    }
    uncovered_container_targets(&mut tg, &seen);
    tg
}

// ---------------------------------------------------------------- endpointslice

/// `endpointslice/<namespace>/<name>`
pub fn endpointslice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The label naming the service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `buildEndpointSlice`.
pub fn build_endpointslice(eps: &EndpointSlice, l: &Lookup<'_>) -> TargetGroup {
    let ns = &eps.metadata.namespace;
    let mut tg = TargetGroup::empty(endpointslice_source(ns, &eps.metadata.name));
    set(&mut tg.labels, NAMESPACE, ns.as_str());
    set(
        &mut tg.labels,
        format!("{META}endpointslice_address_type"),
        eps.address_type.as_str(),
    );
    add_object_meta_labels(&mut tg.labels, &eps.metadata, "endpointslice");
    if let Some(svc_name) = eps.metadata.labels.get(SERVICE_NAME_LABEL) {
        if let Some(svc) = (l.service)(ns, svc_name) {
            merge(&mut tg.labels, service_labels(&svc));
        }
    }

    let mut seen: Vec<(Pod, Vec<Option<i32>>)> = Vec::new();
    let mut add = |tg: &mut TargetGroup, addr: &str, ep: &SliceEndpoint, port: &SlicePort| {
        let mut t = LabelSet::new();
        let a = match port.port {
            Some(p) => join_host_port(addr, p),
            None => addr.to_string(),
        };
        set(&mut t, ADDRESS, a);
        if let Some(n) = &port.name {
            set(&mut t, format!("{META}endpointslice_port_name"), n.as_str());
        }
        if let Some(p) = &port.protocol {
            set(
                &mut t,
                format!("{META}endpointslice_port_protocol"),
                p.as_str(),
            );
        }
        if let Some(p) = port.port {
            set(&mut t, format!("{META}endpointslice_port"), p.to_string());
        }
        if let Some(p) = &port.app_protocol {
            set(
                &mut t,
                format!("{META}endpointslice_port_app_protocol"),
                p.as_str(),
            );
        }
        if let Some(b) = ep.conditions.ready {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_conditions_ready"),
                b.to_string(),
            );
        }
        if let Some(b) = ep.conditions.serving {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_conditions_serving"),
                b.to_string(),
            );
        }
        if let Some(b) = ep.conditions.terminating {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_conditions_terminating"),
                b.to_string(),
            );
        }
        if let Some(h) = &ep.hostname {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_hostname"),
                h.as_str(),
            );
        }
        if let Some(r) = &ep.target_ref {
            set(
                &mut t,
                format!("{META}endpointslice_address_target_kind"),
                r.kind.as_str(),
            );
            set(
                &mut t,
                format!("{META}endpointslice_address_target_name"),
                r.name.as_str(),
            );
        }
        if let Some(n) = &ep.node_name {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_node_name"),
                n.as_str(),
            );
        }
        if let Some(z) = &ep.zone {
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_zone"),
                z.as_str(),
            );
        }
        for (k, v) in &ep.deprecated_topology {
            let ln = sanitize_label_name(k);
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_topology_{ln}"),
                v.as_str(),
            );
            set(
                &mut t,
                format!("{META}endpointslice_endpoint_topology_present_{ln}"),
                PRESENT,
            );
        }
        if l.attach_node {
            let node_ref = match &ep.target_ref {
                Some(r) if r.kind == "Node" => Some(r.name.as_str()),
                _ => ep.node_name.as_deref(),
            };
            add_node_labels(&mut t, node_ref, l.node);
        }
        let Some(pod) = resolve_pod(l, ep.target_ref.as_ref()) else {
            tg.targets.push(t);
            return;
        };
        merge(&mut t, pod_labels(&pod));
        if let Some(pnum) = port.port {
            'outer: for (c, is_init) in all_containers(&pod) {
                for cp in &c.ports {
                    if cp.container_port == pnum {
                        set(&mut t, format!("{META}pod_container_name"), c.name.as_str());
                        set(
                            &mut t,
                            format!("{META}pod_container_image"),
                            c.image.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_name"),
                            cp.name.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_number"),
                            pnum.to_string(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_port_protocol"),
                            cp.protocol.as_str(),
                        );
                        set(
                            &mut t,
                            format!("{META}pod_container_init"),
                            is_init.to_string(),
                        );
                        break 'outer;
                    }
                }
            }
        }
        seen_entry(&mut seen, &pod).push(port.port);
        tg.targets.push(t);
    };
    for ep in &eps.endpoints {
        for port in &eps.ports {
            for addr in &ep.addresses {
                add(&mut tg, addr, ep, port);
            }
        }
    }
    uncovered_container_targets(&mut tg, &seen);
    tg
}

// ---------------------------------------------------------------- ingress

/// `ingress/<namespace>/<name>`
pub fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// `matchesHostnamePattern`: equal, or a `*.` wildcard of the same depth.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pp: Vec<&str> = pattern.split('.').collect();
    let hp: Vec<&str> = host.split('.').collect();
    if pp.first() != Some(&"*") || pp.len() != hp.len() {
        return false;
    }
    pp.iter().zip(hp.iter()).skip(1).all(|(a, b)| a == b)
}

/// `buildIngress`: one target per rule and path, scheme https when a TLS
/// host pattern matches the rule's host.
pub fn build_ingress(ing: &Ingress) -> TargetGroup {
    let ns = &ing.metadata.namespace;
    let mut tg = TargetGroup::empty(ingress_source(ns, &ing.metadata.name));
    set(&mut tg.labels, NAMESPACE, ns.as_str());
    if let Some(c) = &ing.spec.ingress_class_name {
        set(
            &mut tg.labels,
            format!("{META}ingress_class_name"),
            c.as_str(),
        );
    }
    add_object_meta_labels(&mut tg.labels, &ing.metadata, "ingress");
    let tls_hosts: Vec<&str> = ing
        .spec
        .tls
        .iter()
        .flat_map(|t| t.hosts.iter().map(String::as_str))
        .collect();
    for rule in &ing.spec.rules {
        let paths: Vec<String> = match &rule.http {
            None => vec!["/".to_string()],
            Some(h) => h
                .paths
                .iter()
                .map(|p| {
                    if p.path.is_empty() {
                        "/".to_string()
                    } else {
                        p.path.clone()
                    }
                })
                .collect(),
        };
        let scheme = if tls_hosts
            .iter()
            .any(|p| matches_hostname_pattern(p, &rule.host))
        {
            "https"
        } else {
            "http"
        };
        for path in paths {
            let mut t = LabelSet::new();
            set(&mut t, ADDRESS, rule.host.as_str());
            set(&mut t, format!("{META}ingress_scheme"), scheme);
            set(&mut t, format!("{META}ingress_host"), rule.host.as_str());
            set(&mut t, format!("{META}ingress_path"), path);
            tg.targets.push(t);
        }
    }
    tg
}
