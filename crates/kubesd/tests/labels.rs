//! Target groups per role, against the expectations of Prometheus'
//! `discovery/kubernetes/*_test.go`, with the objects written as the API
//! server returns them (JSON).

use kubesd::labels::{self, Lookup};
use kubesd::objects::{EndpointSlice, Endpoints, Ingress, Node, Pod, Service};
use kubesd::{LabelSet, TargetGroup};
use serde_json::json;

macro_rules! ls {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = LabelSet::new();
        $(m.insert($k.to_string(), $v.to_string());)*
        m
    }};
}

fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("decode")
}

fn assert_group(got: &TargetGroup, source: &str, labels: LabelSet, targets: Vec<LabelSet>) {
    assert_eq!(got.source, source);
    assert_eq!(got.labels, labels, "group labels of {source}");
    assert_eq!(
        got.targets.len(),
        targets.len(),
        "targets of {source}: {:#?}",
        got.targets
    );
    for (i, (g, w)) in got.targets.iter().zip(targets.iter()).enumerate() {
        assert_eq!(g, w, "target {i} of {source}");
    }
}

fn no_node(_: &str) -> Option<Node> {
    None
}

fn multi_port_pod() -> serde_json::Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": "testpod", "namespace": "default",
            "labels": {"test/label": "testvalue"},
            "annotations": {"test/annotation": "testannotationvalue"},
            "uid": "abc123",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "testcontrollerkind", "name": "testcontrollername", "uid": "x", "controller": true}]
        },
        "spec": {
            "nodeName": "testnode",
            "containers": [
                {"name": "testcontainer0", "image": "testcontainer0:latest", "ports": [
                    {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
                    {"name": "testport1", "protocol": "UDP", "containerPort": 9001}]},
                {"name": "testcontainer1", "image": "testcontainer1:latest"}
            ]
        },
        "status": {
            "podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "testcontainer0", "containerID": "docker://a1b2c3d4e5f6"},
                {"name": "testcontainer1", "containerID": "containerd://6f5e4d3c2b1a"}
            ]
        }
    })
}

#[test]
fn pod_multiple_ports() {
    let pod: Pod = de(multi_port_pod());
    let g = labels::build_pod(&pod, &no_node, false);
    assert_group(
        &g,
        "pod/default/testpod",
        ls! {
            "__meta_kubernetes_pod_name" => "testpod",
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_pod_label_test_label" => "testvalue",
            "__meta_kubernetes_pod_labelpresent_test_label" => "true",
            "__meta_kubernetes_pod_annotation_test_annotation" => "testannotationvalue",
            "__meta_kubernetes_pod_annotationpresent_test_annotation" => "true",
            "__meta_kubernetes_pod_node_name" => "testnode",
            "__meta_kubernetes_pod_ip" => "1.2.3.4",
            "__meta_kubernetes_pod_host_ip" => "2.3.4.5",
            "__meta_kubernetes_pod_ready" => "true",
            "__meta_kubernetes_pod_phase" => "Running",
            "__meta_kubernetes_pod_uid" => "abc123",
            "__meta_kubernetes_pod_controller_kind" => "testcontrollerkind",
            "__meta_kubernetes_pod_controller_name" => "testcontrollername",
        },
        vec![
            ls! {
                "__address__" => "1.2.3.4:9000",
                "__meta_kubernetes_pod_container_name" => "testcontainer0",
                "__meta_kubernetes_pod_container_port_name" => "testport0",
                "__meta_kubernetes_pod_container_port_number" => "9000",
                "__meta_kubernetes_pod_container_port_protocol" => "TCP",
                "__meta_kubernetes_pod_container_init" => "false",
                "__meta_kubernetes_pod_container_image" => "testcontainer0:latest",
                "__meta_kubernetes_pod_container_id" => "docker://a1b2c3d4e5f6",
            },
            ls! {
                "__address__" => "1.2.3.4:9001",
                "__meta_kubernetes_pod_container_name" => "testcontainer0",
                "__meta_kubernetes_pod_container_port_name" => "testport1",
                "__meta_kubernetes_pod_container_port_number" => "9001",
                "__meta_kubernetes_pod_container_port_protocol" => "UDP",
                "__meta_kubernetes_pod_container_init" => "false",
                "__meta_kubernetes_pod_container_image" => "testcontainer0:latest",
                "__meta_kubernetes_pod_container_id" => "docker://a1b2c3d4e5f6",
            },
            ls! {
                "__address__" => "1.2.3.4",
                "__meta_kubernetes_pod_container_name" => "testcontainer1",
                "__meta_kubernetes_pod_container_init" => "false",
                "__meta_kubernetes_pod_container_image" => "testcontainer1:latest",
                "__meta_kubernetes_pod_container_id" => "containerd://6f5e4d3c2b1a",
            },
        ],
    );
}

#[test]
fn pod_init_container_and_no_ip() {
    let pod: Pod = de(json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "abc123"},
        "spec": {
            "nodeName": "testnode",
            "containers": [{"name": "testcontainer", "image": "testcontainer:latest",
                            "ports": [{"name": "testport", "protocol": "TCP", "containerPort": 9000}]}],
            "initContainers": [{"name": "initcontainer", "image": "initcontainer:latest"}]
        },
        "status": {
            "podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "testcontainer", "containerID": "docker://a1b2c3d4e5f6"}],
            "initContainerStatuses": [{"name": "initcontainer", "containerID": "containerd://6f5e4d3c2b1a"}]
        }
    }));
    let g = labels::build_pod(&pod, &no_node, false);
    assert_eq!(g.labels["__meta_kubernetes_pod_ready"], "false");
    assert_eq!(g.labels["__meta_kubernetes_pod_phase"], "Pending");
    assert_eq!(g.targets.len(), 2);
    assert_eq!(
        g.targets[1],
        ls! {
            "__address__" => "1.2.3.4",
            "__meta_kubernetes_pod_container_name" => "initcontainer",
            "__meta_kubernetes_pod_container_image" => "initcontainer:latest",
            "__meta_kubernetes_pod_container_init" => "true",
            "__meta_kubernetes_pod_container_id" => "containerd://6f5e4d3c2b1a",
        }
    );
    // No pod IP (starting or evicted): empty group, as Prometheus.
    let mut v = multi_port_pod();
    v["status"]["podIP"] = json!(null);
    let g = labels::build_pod(&de::<Pod>(v), &no_node, false);
    assert_eq!(g, TargetGroup::empty("pod/default/testpod"));
}

#[test]
fn pod_attach_node_metadata_and_ipv6() {
    let mut v = multi_port_pod();
    v["status"]["podIP"] = json!("2001:db8::1");
    let pod: Pod = de(v);
    let node: Node = de(
        json!({"metadata": {"name": "testnode", "labels": {"l1": "v1", "topology.kubernetes.io/zone": "z"}}}),
    );
    let lookup = |n: &str| (n == "testnode").then(|| node.clone());
    let g = labels::build_pod(&pod, &lookup, true);
    assert_eq!(g.labels["__meta_kubernetes_node_name"], "testnode");
    assert_eq!(g.labels["__meta_kubernetes_node_label_l1"], "v1");
    assert_eq!(
        g.labels["__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone"],
        "true"
    );
    assert_eq!(g.targets[0]["__address__"], "[2001:db8::1]:9000");
    assert_eq!(g.targets[2]["__address__"], "2001:db8::1");
}

fn node(
    name: &str,
    provider: &str,
    labels: serde_json::Value,
    annotations: serde_json::Value,
) -> Node {
    de(json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"providerID": provider},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "1.2.3.4"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    }))
}

#[test]
fn node_role() {
    let g = labels::build_node(&node(
        "test0",
        "aws:///de-west-3a/i-0",
        json!({}),
        json!({}),
    ))
    .expect("group");
    assert_group(
        &g,
        "node/test0",
        ls! {
            "__meta_kubernetes_node_name" => "test0",
            "__meta_kubernetes_node_provider_id" => "aws:///de-west-3a/i-0",
        },
        vec![ls! {
            "__address__" => "1.2.3.4:10250",
            "instance" => "test0",
            "__meta_kubernetes_node_address_InternalIP" => "1.2.3.4",
        }],
    );
    let g = labels::build_node(&node(
        "test1",
        "aws:///fr-south-1c/i-49508290343823952",
        json!({"label": "value"}),
        json!({"annotation": "value"}),
    ))
    .expect("group");
    assert_eq!(
        g.labels,
        ls! {
            "__meta_kubernetes_node_label_label" => "value",
            "__meta_kubernetes_node_labelpresent_label" => "true",
            "__meta_kubernetes_node_name" => "test1",
            "__meta_kubernetes_node_annotation_annotation" => "value",
            "__meta_kubernetes_node_annotationpresent_annotation" => "true",
            "__meta_kubernetes_node_provider_id" => "aws:///fr-south-1c/i-49508290343823952",
        }
    );
    // Address priority: InternalIP before ExternalIP and Hostname; every type labelled.
    let n: Node = de(json!({
        "metadata": {"name": "n"},
        "status": {"addresses": [
            {"type": "Hostname", "address": "n.local"},
            {"type": "ExternalIP", "address": "5.6.7.8"},
            {"type": "InternalIP", "address": "10.0.0.9"}],
          "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
    }));
    let g = labels::build_node(&n).expect("group");
    assert_eq!(g.targets[0]["__address__"], "10.0.0.9:10250");
    assert_eq!(
        g.targets[0]["__meta_kubernetes_node_address_Hostname"],
        "n.local"
    );
    assert_eq!(
        g.targets[0]["__meta_kubernetes_node_address_ExternalIP"],
        "5.6.7.8"
    );
    // No address: nothing (Prometheus logs and sends no group).
    let n: Node = de(json!({"metadata": {"name": "n"}}));
    assert!(labels::build_node(&n).is_none());
}

#[test]
fn service_roles() {
    let svc: Service = de(json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "testservice", "namespace": "default",
                     "labels": {"test-label": "testvalue"},
                     "annotations": {"test-annotation": "testannotationvalue"}},
        "spec": {"ports": [{"name": "testport0", "protocol": "TCP", "port": 30900},
                           {"name": "testport1", "protocol": "UDP", "port": 30901}],
                 "type": "ClusterIP", "clusterIP": "10.0.0.1"}
    }));
    assert_group(
        &labels::build_service(&svc),
        "svc/default/testservice",
        ls! {
            "__meta_kubernetes_service_name" => "testservice",
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_service_label_test_label" => "testvalue",
            "__meta_kubernetes_service_labelpresent_test_label" => "true",
            "__meta_kubernetes_service_annotation_test_annotation" => "testannotationvalue",
            "__meta_kubernetes_service_annotationpresent_test_annotation" => "true",
        },
        vec![
            ls! {
                "__meta_kubernetes_service_port_protocol" => "TCP",
                "__address__" => "testservice.default.svc:30900",
                "__meta_kubernetes_service_type" => "ClusterIP",
                "__meta_kubernetes_service_cluster_ip" => "10.0.0.1",
                "__meta_kubernetes_service_port_name" => "testport0",
                "__meta_kubernetes_service_port_number" => "30900",
            },
            ls! {
                "__meta_kubernetes_service_port_protocol" => "UDP",
                "__address__" => "testservice.default.svc:30901",
                "__meta_kubernetes_service_type" => "ClusterIP",
                "__meta_kubernetes_service_cluster_ip" => "10.0.0.1",
                "__meta_kubernetes_service_port_name" => "testport1",
                "__meta_kubernetes_service_port_number" => "30901",
            },
        ],
    );
    let ext: Service = de(json!({
        "metadata": {"name": "testservice-external", "namespace": "default"},
        "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
                 "type": "ExternalName", "externalName": "FooExternalName"}
    }));
    assert_eq!(
        labels::build_service(&ext).targets,
        vec![ls! {
            "__meta_kubernetes_service_port_protocol" => "TCP",
            "__address__" => "testservice-external.default.svc:31900",
            "__meta_kubernetes_service_type" => "ExternalName",
            "__meta_kubernetes_service_port_name" => "testport",
            "__meta_kubernetes_service_port_number" => "31900",
            "__meta_kubernetes_service_external_name" => "FooExternalName",
        }]
    );
    let lb: Service = de(json!({
        "metadata": {"name": "testservice-loadbalancer", "namespace": "default"},
        "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
                 "type": "LoadBalancer", "loadBalancerIP": "127.0.0.1", "clusterIP": "10.0.0.1"}
    }));
    assert_eq!(
        labels::build_service(&lb).targets,
        vec![ls! {
            "__meta_kubernetes_service_port_protocol" => "TCP",
            "__address__" => "testservice-loadbalancer.default.svc:31900",
            "__meta_kubernetes_service_type" => "LoadBalancer",
            "__meta_kubernetes_service_port_name" => "testport",
            "__meta_kubernetes_service_port_number" => "31900",
            "__meta_kubernetes_service_cluster_ip" => "10.0.0.1",
            "__meta_kubernetes_service_loadbalancer_ip" => "127.0.0.1",
        }]
    );
}

fn no_pod(_: &str, _: &str) -> Option<Pod> {
    None
}
fn no_svc(_: &str, _: &str) -> Option<Service> {
    None
}

#[test]
fn endpoints_role() {
    let eps: Endpoints = de(json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": "testendpoints", "namespace": "default"},
        "subsets": [
            {"addresses": [{"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"}],
             "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}]},
            {"addresses": [{"ip": "2.3.4.5"}], "notReadyAddresses": [{"ip": "2.3.4.5"}],
             "ports": [{"name": "testport", "port": 9001, "protocol": "TCP"}]},
            {"addresses": [{"ip": "6.7.8.9", "targetRef": {"kind": "Node", "name": "barbaz"}}],
             "ports": [{"name": "testport", "port": 9002, "protocol": "TCP"}]}
        ]
    }));
    let l = Lookup {
        pod: &no_pod,
        service: &no_svc,
        node: &no_node,
        attach_node: false,
    };
    assert_group(
        &labels::build_endpoints(&eps, &l),
        "endpoints/default/testendpoints",
        ls! {
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_endpoints_name" => "testendpoints",
        },
        vec![
            ls! {
                "__address__" => "1.2.3.4:9000",
                "__meta_kubernetes_endpoint_hostname" => "testendpoint1",
                "__meta_kubernetes_endpoint_node_name" => "foobar",
                "__meta_kubernetes_endpoint_port_name" => "testport",
                "__meta_kubernetes_endpoint_port_protocol" => "TCP",
                "__meta_kubernetes_endpoint_port_app_protocol" => "http",
                "__meta_kubernetes_endpoint_ready" => "true",
            },
            ls! {
                "__address__" => "2.3.4.5:9001",
                "__meta_kubernetes_endpoint_port_name" => "testport",
                "__meta_kubernetes_endpoint_port_protocol" => "TCP",
                "__meta_kubernetes_endpoint_ready" => "true",
            },
            ls! {
                "__address__" => "2.3.4.5:9001",
                "__meta_kubernetes_endpoint_port_name" => "testport",
                "__meta_kubernetes_endpoint_port_protocol" => "TCP",
                "__meta_kubernetes_endpoint_ready" => "false",
            },
            ls! {
                "__address__" => "6.7.8.9:9002",
                "__meta_kubernetes_endpoint_address_target_kind" => "Node",
                "__meta_kubernetes_endpoint_address_target_name" => "barbaz",
                "__meta_kubernetes_endpoint_port_name" => "testport",
                "__meta_kubernetes_endpoint_port_protocol" => "TCP",
                "__meta_kubernetes_endpoint_ready" => "true",
            },
        ],
    );
    // With attach_metadata.node: node labels by nodeName or a Node targetRef.
    let foobar: Node = de(json!({"metadata": {"name": "foobar", "labels": {"az": "us-east-1a"}}}));
    let barbaz: Node = de(json!({"metadata": {"name": "barbaz", "labels": {"az": "us-west-2a"}}}));
    let nodes = |n: &str| match n {
        "foobar" => Some(foobar.clone()),
        "barbaz" => Some(barbaz.clone()),
        _ => None,
    };
    let l = Lookup {
        pod: &no_pod,
        service: &no_svc,
        node: &nodes,
        attach_node: true,
    };
    let g = labels::build_endpoints(&eps, &l);
    assert_eq!(
        g.targets[0]["__meta_kubernetes_node_label_az"],
        "us-east-1a"
    );
    assert_eq!(g.targets[0]["__meta_kubernetes_node_name"], "foobar");
    assert!(!g.targets[1].contains_key("__meta_kubernetes_node_name"));
    assert_eq!(
        g.targets[3]["__meta_kubernetes_node_label_az"],
        "us-west-2a"
    );
}

fn test_pod() -> Pod {
    de(json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
        "spec": {"nodeName": "testnode", "containers": [
            {"name": "c1", "image": "c1:latest", "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]},
            {"name": "c2", "image": "c2:latest", "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "TCP"}]}
        ]},
        "status": {"hostIP": "2.3.4.5", "podIP": "1.2.3.4"}
    }))
}

fn pod_common() -> LabelSet {
    ls! {
        "__meta_kubernetes_pod_name" => "testpod",
        "__meta_kubernetes_pod_ip" => "1.2.3.4",
        "__meta_kubernetes_pod_ready" => "unknown",
        "__meta_kubernetes_pod_phase" => "",
        "__meta_kubernetes_pod_node_name" => "testnode",
        "__meta_kubernetes_pod_host_ip" => "2.3.4.5",
        "__meta_kubernetes_pod_uid" => "deadbeef",
    }
}

#[test]
fn endpoints_with_pods_and_service() {
    let eps: Endpoints = de(json!({
        "metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}},
        "subsets": [{"addresses": [{"ip": "1.2.3.4", "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}],
                     "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]}]
    }));
    let svc: Service = de(
        json!({"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "svc"}}}),
    );
    let pod = test_pod();
    let pods = |ns: &str, n: &str| (ns == "default" && n == "testpod").then(|| pod.clone());
    let svcs = |ns: &str, n: &str| (ns == "default" && n == "testendpoints").then(|| svc.clone());
    let l = Lookup {
        pod: &pods,
        service: &svcs,
        node: &no_node,
        attach_node: false,
    };
    let mut t0 = pod_common();
    t0.extend(ls! {
        "__address__" => "1.2.3.4:9000",
        "__meta_kubernetes_endpoint_port_name" => "testport",
        "__meta_kubernetes_endpoint_port_protocol" => "TCP",
        "__meta_kubernetes_endpoint_ready" => "true",
        "__meta_kubernetes_endpoint_address_target_kind" => "Pod",
        "__meta_kubernetes_endpoint_address_target_name" => "testpod",
        "__meta_kubernetes_pod_container_name" => "c1",
        "__meta_kubernetes_pod_container_image" => "c1:latest",
        "__meta_kubernetes_pod_container_port_name" => "mainport",
        "__meta_kubernetes_pod_container_port_number" => "9000",
        "__meta_kubernetes_pod_container_port_protocol" => "TCP",
        "__meta_kubernetes_pod_container_init" => "false",
    });
    let mut t1 = pod_common();
    t1.extend(ls! {
        "__address__" => "1.2.3.4:9001",
        "__meta_kubernetes_pod_container_name" => "c2",
        "__meta_kubernetes_pod_container_image" => "c2:latest",
        "__meta_kubernetes_pod_container_port_name" => "sideport",
        "__meta_kubernetes_pod_container_port_number" => "9001",
        "__meta_kubernetes_pod_container_port_protocol" => "TCP",
        "__meta_kubernetes_pod_container_init" => "false",
    });
    assert_group(
        &labels::build_endpoints(&eps, &l),
        "endpoints/default/testendpoints",
        ls! {
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_endpoints_name" => "testendpoints",
            "__meta_kubernetes_endpoints_label_app_name" => "test",
            "__meta_kubernetes_endpoints_labelpresent_app_name" => "true",
            "__meta_kubernetes_service_name" => "testendpoints",
            "__meta_kubernetes_service_label_app_name" => "svc",
            "__meta_kubernetes_service_labelpresent_app_name" => "true",
        },
        vec![t0, t1],
    );
}

#[test]
fn endpointslice_role() {
    let eps: EndpointSlice = de(json!({
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "testendpoints", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "testendpoints"},
                     "annotations": {"test.annotation": "test"}},
        "addressType": "IPv4",
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
        "endpoints": [
            {"addresses": ["1.2.3.4"], "conditions": {"ready": true, "serving": true, "terminating": false},
             "hostname": "testendpoint1", "targetRef": {}, "nodeName": "foobar",
             "deprecatedTopology": {"topology": "value"}, "zone": "us-east-1a"},
            {"addresses": ["2.3.4.5"], "conditions": {"ready": true, "serving": true, "terminating": false}, "zone": "us-east-1b"},
            {"addresses": ["3.4.5.6"], "conditions": {"ready": false, "serving": true, "terminating": true}, "zone": "us-east-1c"},
            {"addresses": ["4.5.6.7"], "conditions": {"ready": true, "serving": true, "terminating": false},
             "targetRef": {"kind": "Node", "name": "barbaz"}, "zone": "us-east-1a"}
        ]
    }));
    let l = Lookup {
        pod: &no_pod,
        service: &no_svc,
        node: &no_node,
        attach_node: false,
    };
    let port = ls! {
        "__meta_kubernetes_endpointslice_port" => "9000",
        "__meta_kubernetes_endpointslice_port_app_protocol" => "http",
        "__meta_kubernetes_endpointslice_port_name" => "testport",
        "__meta_kubernetes_endpointslice_port_protocol" => "TCP",
    };
    let with = |extra: LabelSet| {
        let mut m = port.clone();
        m.extend(extra);
        m
    };
    assert_group(
        &labels::build_endpointslice(&eps, &l),
        "endpointslice/default/testendpoints",
        ls! {
            "__meta_kubernetes_endpointslice_address_type" => "IPv4",
            "__meta_kubernetes_namespace" => "default",
            "__meta_kubernetes_endpointslice_name" => "testendpoints",
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name" => "testendpoints",
            "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name" => "true",
            "__meta_kubernetes_endpointslice_annotation_test_annotation" => "test",
            "__meta_kubernetes_endpointslice_annotationpresent_test_annotation" => "true",
        },
        vec![
            with(ls! {
                "__address__" => "1.2.3.4:9000",
                "__meta_kubernetes_endpointslice_address_target_kind" => "",
                "__meta_kubernetes_endpointslice_address_target_name" => "",
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating" => "false",
                "__meta_kubernetes_endpointslice_endpoint_hostname" => "testendpoint1",
                "__meta_kubernetes_endpointslice_endpoint_node_name" => "foobar",
                "__meta_kubernetes_endpointslice_endpoint_topology_present_topology" => "true",
                "__meta_kubernetes_endpointslice_endpoint_topology_topology" => "value",
                "__meta_kubernetes_endpointslice_endpoint_zone" => "us-east-1a",
            }),
            with(ls! {
                "__address__" => "2.3.4.5:9000",
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating" => "false",
                "__meta_kubernetes_endpointslice_endpoint_zone" => "us-east-1b",
            }),
            with(ls! {
                "__address__" => "3.4.5.6:9000",
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready" => "false",
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating" => "true",
                "__meta_kubernetes_endpointslice_endpoint_zone" => "us-east-1c",
            }),
            with(ls! {
                "__address__" => "4.5.6.7:9000",
                "__meta_kubernetes_endpointslice_address_target_kind" => "Node",
                "__meta_kubernetes_endpointslice_address_target_name" => "barbaz",
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_serving" => "true",
                "__meta_kubernetes_endpointslice_endpoint_conditions_terminating" => "false",
                "__meta_kubernetes_endpointslice_endpoint_zone" => "us-east-1a",
            }),
        ],
    );
}

#[test]
fn endpointslice_with_pods_and_service() {
    let eps: EndpointSlice = de(json!({
        "metadata": {"name": "testendpoints", "namespace": "default", "labels": {"kubernetes.io/service-name": "testendpoints"}},
        "addressType": "IPv4",
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["1.2.3.4"], "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}]
    }));
    let svc: Service = de(json!({"metadata": {"name": "testendpoints", "namespace": "default"}}));
    let pod = test_pod();
    let pods = |ns: &str, n: &str| (ns == "default" && n == "testpod").then(|| pod.clone());
    let svcs = |ns: &str, n: &str| (ns == "default" && n == "testendpoints").then(|| svc.clone());
    let l = Lookup {
        pod: &pods,
        service: &svcs,
        node: &no_node,
        attach_node: false,
    };
    let g = labels::build_endpointslice(&eps, &l);
    assert_eq!(g.labels["__meta_kubernetes_service_name"], "testendpoints");
    assert_eq!(g.targets.len(), 2);
    let mut t0 = pod_common();
    t0.extend(ls! {
        "__address__" => "1.2.3.4:9000",
        "__meta_kubernetes_endpointslice_port" => "9000",
        "__meta_kubernetes_endpointslice_port_name" => "testport",
        "__meta_kubernetes_endpointslice_port_protocol" => "TCP",
        "__meta_kubernetes_endpointslice_address_target_kind" => "Pod",
        "__meta_kubernetes_endpointslice_address_target_name" => "testpod",
        "__meta_kubernetes_pod_container_name" => "c1",
        "__meta_kubernetes_pod_container_image" => "c1:latest",
        "__meta_kubernetes_pod_container_port_name" => "mainport",
        "__meta_kubernetes_pod_container_port_number" => "9000",
        "__meta_kubernetes_pod_container_port_protocol" => "TCP",
        "__meta_kubernetes_pod_container_init" => "false",
    });
    assert_eq!(g.targets[0], t0);
    assert_eq!(g.targets[1]["__address__"], "1.2.3.4:9001");
    assert_eq!(g.targets[1]["__meta_kubernetes_pod_container_name"], "c2");
}

fn ingress(tls: serde_json::Value) -> Ingress {
    de(json!({
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": "testingress", "namespace": "default",
                     "labels": {"test/label": "testvalue"},
                     "annotations": {"test/annotation": "testannotationvalue"}},
        "spec": {
            "ingressClassName": "testclass",
            "tls": tls,
            "rules": [
                {"host": "example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}},
                    {"path": "/foo", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}},
                {"host": "nobackend.example.com", "http": {}},
                {"host": "test.example.com", "http": {"paths": [{"pathType": "ImplementationSpecific", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}
            ]
        }
    }))
}

#[test]
fn ingress_role() {
    let cases = [
        (json!(null), "http", "http"),
        (
            json!([{"hosts": ["example.com", "test.example.com"]}]),
            "https",
            "https",
        ),
        (json!([{"hosts": ["example.com"]}]), "https", "http"),
        (json!([{"hosts": ["*.example.com"]}]), "http", "https"),
    ];
    for (tls, s1, s2) in cases {
        assert_group(
            &labels::build_ingress(&ingress(tls)),
            "ingress/default/testingress",
            ls! {
                "__meta_kubernetes_ingress_name" => "testingress",
                "__meta_kubernetes_namespace" => "default",
                "__meta_kubernetes_ingress_label_test_label" => "testvalue",
                "__meta_kubernetes_ingress_labelpresent_test_label" => "true",
                "__meta_kubernetes_ingress_annotation_test_annotation" => "testannotationvalue",
                "__meta_kubernetes_ingress_annotationpresent_test_annotation" => "true",
                "__meta_kubernetes_ingress_class_name" => "testclass",
            },
            vec![
                ls! {"__meta_kubernetes_ingress_scheme" => s1, "__meta_kubernetes_ingress_host" => "example.com",
                "__meta_kubernetes_ingress_path" => "/", "__address__" => "example.com"},
                ls! {"__meta_kubernetes_ingress_scheme" => s1, "__meta_kubernetes_ingress_host" => "example.com",
                "__meta_kubernetes_ingress_path" => "/foo", "__address__" => "example.com"},
                ls! {"__meta_kubernetes_ingress_scheme" => s2, "__meta_kubernetes_ingress_host" => "test.example.com",
                "__meta_kubernetes_ingress_path" => "/", "__address__" => "test.example.com"},
            ],
        );
    }
}

#[test]
fn sanitize_label_names() {
    assert_eq!(
        labels::sanitize_label_name("app.kubernetes.io/name"),
        "app_kubernetes_io_name"
    );
    assert_eq!(labels::sanitize_label_name("ünïcode-x"), "_n_code_x");
    assert_eq!(labels::sanitize_label_name("ok_09"), "ok_09");
}
