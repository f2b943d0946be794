mod common;
use common::*;
use kubesd::testing::fixtures;
use kubesd::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_role_lists_then_watches() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 2));
    let (mut rx, _errs, _h) = start(config(&srv, Role::Pod)).await;
    let mut v = View::default();
    v.until(&mut rx, "initial pod", |v| {
        v.groups.contains_key("pod/default/a")
    })
    .await;
    assert_eq!(v.targets(), 2);
    srv.apply(fixtures::pod("default", "b", "10.1.0.2", 1));
    v.until(&mut rx, "pod b", |v| v.groups.contains_key("pod/default/b"))
        .await;
    srv.delete("Pod", "default", "a");
    v.until(&mut rx, "pod a gone", |v| {
        !v.groups.contains_key("pod/default/a")
    })
    .await;
    assert_eq!(v.targets(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_1000_pods_ends_empty() {
    init_tracing();
    let srv = server().await;
    let (mut rx, _errs, _h) = start(config(&srv, Role::Pod)).await;
    let mut v = View::default();
    v.until(&mut rx, "initial (empty) set", |v| v.updates >= 1)
        .await;
    for i in 0..1000 {
        srv.apply(fixtures::pod(
            "churn",
            &format!("p{i}"),
            &format!("10.2.{}.{}", i / 250, i % 250),
            1,
        ));
    }
    v.until(&mut rx, "1000 pods", |v| v.groups.len() == 1000)
        .await;
    let updates_for_adds = v.updates;
    for i in 0..1000 {
        srv.delete("Pod", "churn", &format!("p{i}"));
    }
    v.until(&mut rx, "no pods", |v| v.groups.is_empty()).await;
    // Coalescing: thousands of events, a handful of updates.
    assert!(
        v.updates < 200,
        "too many updates: {} (adds: {updates_for_adds})",
        v.updates
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relists_on_410_event_and_http_410() {
    init_tracing();
    for mode in [
        kubesd::testing::GoneMode::Event,
        kubesd::testing::GoneMode::Http,
    ] {
        let srv = server().await;
        srv.set_gone_mode(mode);
        srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
        srv.apply(fixtures::pod("default", "b", "10.1.0.2", 1));
        let (mut rx, _errs, _h) = start(config(&srv, Role::Pod)).await;
        let mut v = View::default();
        v.until(&mut rx, "a and b", |v| v.groups.len() == 2).await;
        let lists_before = srv.requests().iter().filter(|r| !r.watch).count();
        // Changes the client will only see through a re-list.
        srv.compact();
        srv.drop_connections();
        srv.delete("Pod", "default", "a");
        srv.apply(fixtures::pod("default", "c", "10.1.0.3", 1));
        srv.compact();
        v.until(&mut rx, "re-listed state", |v| {
            v.groups.len() == 2
                && v.groups.contains_key("pod/default/c")
                && !v.groups.contains_key("pod/default/a")
        })
        .await;
        let lists_after = srv.requests().iter().filter(|r| !r.watch).count();
        assert!(lists_after > lists_before, "{mode:?}: expected a re-list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_server_restart_and_resyncs() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let (mut rx, _errs, _h) = start(config(&srv, Role::Pod)).await;
    let mut v = View::default();
    v.until(&mut rx, "a", |v| v.groups.contains_key("pod/default/a"))
        .await;
    srv.stop();
    srv.delete("Pod", "default", "a");
    srv.apply(fixtures::pod("default", "b", "10.1.0.2", 1));
    srv.restart().await.expect("restart");
    v.until(&mut rx, "resynced", |v| {
        v.groups.contains_key("pod/default/b") && !v.groups.contains_key("pod/default/a")
    })
    .await;
    // A dropped connection alone resumes the watch from the last version.
    srv.drop_connections();
    srv.apply(fixtures::pod("default", "c", "10.1.0.3", 1));
    v.until(&mut rx, "c after drop", |v| {
        v.groups.contains_key("pod/default/c")
    })
    .await;
    // Bookmarks are accepted and requested.
    srv.bookmark();
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.watch
                && r.query.get("allowWatchBookmarks").map(String::as_str) == Some("true"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_is_reported_with_role_and_url_and_retried() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let mut cfg = config(&srv, Role::Pod);
    cfg.http.bearer_token = "wrong".into();
    let (mut rx, mut errs, _h) = start(cfg).await;
    let first = tokio::time::timeout(WAIT, errs.recv())
        .await
        .expect("error in time")
        .expect("error");
    assert_eq!(first.role, Role::Pod);
    assert_eq!(first.code, Some(401));
    assert_eq!(first.url, format!("{}/api/v1/pods", srv.url()));
    let text = first.to_string();
    assert!(
        text.contains("role=pod") && text.contains(&srv.url()),
        "{text}"
    );
    let second = tokio::time::timeout(WAIT, errs.recv())
        .await
        .expect("retry in time")
        .expect("error");
    assert!(
        second.retry_in > first.retry_in,
        "backoff grows: {:?} then {:?}",
        first.retry_in,
        second.retry_in
    );
    // Once the server accepts the token, discovery recovers.
    srv.set_token(Some("wrong"));
    let mut v = View::default();
    v.until(&mut rx, "recovery", |v| {
        v.groups.contains_key("pod/default/a")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_object_is_skipped() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "good", "10.1.0.1", 1));
    let mut bad = fixtures::pod("default", "bad", "10.1.0.2", 1);
    bad["spec"]["containers"] = serde_json::json!("not-a-list");
    srv.apply(bad.clone());
    srv.apply(fixtures::pod("default", "good2", "10.1.0.3", 1));
    let (mut rx, _errs, _h) = start(config(&srv, Role::Pod)).await;
    let mut v = View::default();
    v.until(&mut rx, "good pods", |v| v.groups.len() == 2).await;
    assert!(!v.groups.contains_key("pod/default/bad"));
    // Also in a watch event.
    bad["metadata"]["name"] = "bad2".into();
    srv.apply(bad);
    srv.apply(fixtures::pod("default", "good3", "10.1.0.4", 1));
    v.until(&mut rx, "good3", |v| {
        v.groups.contains_key("pod/default/good3")
    })
    .await;
    assert_eq!(v.groups.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_selectors_reach_the_server() {
    init_tracing();
    let srv = server().await;
    let mut p = fixtures::pod("ns1", "match", "10.1.0.1", 1);
    p["metadata"]["labels"]["tier"] = "web".into();
    srv.apply(p);
    srv.apply(fixtures::pod("ns1", "nolabel", "10.1.0.2", 1));
    let mut p = fixtures::pod("ns3", "other-ns", "10.1.0.3", 1);
    p["metadata"]["labels"]["tier"] = "web".into();
    srv.apply(p);
    let mut cfg = config(&srv, Role::Endpoints);
    cfg.namespaces.names = vec!["ns1".into(), "ns2".into()];
    cfg.selectors = vec![
        kubesd::SelectorConfig {
            role: Role::Pod,
            label: "tier=web".into(),
            field: "status.phase=Running".into(),
        },
        kubesd::SelectorConfig {
            role: Role::Service,
            label: "".into(),
            field: "metadata.name=svc".into(),
        },
    ];
    let (mut rx, _errs, _h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "initial set", |v| v.updates >= 1).await;
    let reqs = srv.requests();
    for ns in ["ns1", "ns2"] {
        for plural in ["endpoints", "services", "pods"] {
            let path = format!("/api/v1/namespaces/{ns}/{plural}");
            assert!(reqs.iter().any(|r| r.path == path), "no request for {path}");
        }
        let pods = reqs
            .iter()
            .find(|r| r.path == format!("/api/v1/namespaces/{ns}/pods"))
            .expect("pods request");
        assert_eq!(
            pods.query.get("labelSelector").map(String::as_str),
            Some("tier=web")
        );
        assert_eq!(
            pods.query.get("fieldSelector").map(String::as_str),
            Some("status.phase=Running")
        );
        let svcs = reqs
            .iter()
            .find(|r| r.path == format!("/api/v1/namespaces/{ns}/services"))
            .expect("services request");
        assert_eq!(
            svcs.query.get("fieldSelector").map(String::as_str),
            Some("metadata.name=svc")
        );
        assert!(!svcs.query.contains_key("labelSelector"));
    }
    assert!(!reqs
        .iter()
        .any(|r| r.path.contains("ns3") || r.path == "/api/v1/pods"));
    // The endpoints role joins pods: an Endpoints object pointing at the
    // selected pod gets its labels.
    srv.apply(serde_json::json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": "svc", "namespace": "ns1"},
        "subsets": [{"addresses": [{"ip": "10.1.0.1", "targetRef": {"kind": "Pod", "name": "match", "namespace": "ns1"}}],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    }));
    v.until(&mut rx, "endpoints", |v| {
        v.groups.contains_key("endpoints/ns1/svc")
    })
    .await;
    let g = &v.groups["endpoints/ns1/svc"];
    assert_eq!(
        g.targets[0]
            .get("__meta_kubernetes_pod_name")
            .map(String::as_str),
        Some("match")
    );
    // A pod change re-triggers the endpoints group.
    let mut p = fixtures::pod("ns1", "match", "10.1.0.1", 1);
    p["metadata"]["labels"]["tier"] = "web".into();
    p["metadata"]["labels"]["extra"] = "yes".into();
    srv.apply(p);
    v.until(&mut rx, "pod label on endpoints", |v| {
        v.groups["endpoints/ns1/svc"].targets[0].contains_key("__meta_kubernetes_pod_label_extra")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_ca_and_in_cluster_config() {
    init_tracing();
    let srv = kubesd::testing::FakeApiServer::start(kubesd::testing::FakeOptions {
        token: Some(TOKEN.into()),
        tls: true,
    })
    .await
    .expect("tls server");
    srv.apply(fixtures::pod("me", "a", "10.1.0.1", 1));
    srv.apply(fixtures::pod("other", "b", "10.1.0.2", 1));
    let dir = std::env::temp_dir().join(format!("kubesd-sa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("token"), TOKEN).expect("token");
    std::fs::write(dir.join("ca.crt"), srv.ca_pem().expect("ca")).expect("ca");
    std::fs::write(dir.join("namespace"), "me").expect("ns");
    let mut cfg = kubesd::SdConfig::new(Role::Pod);
    cfg.namespaces.own_namespace = true;
    let opts = kubesd::Options {
        in_cluster: kubesd::InCluster {
            host: Some("127.0.0.1".into()),
            port: Some(srv.addr().port().to_string()),
            service_account_dir: dir.clone(),
        },
        ..fast_options()
    };
    let d = kubesd::Discovery::new(cfg, opts).await.expect("discovery");
    assert_eq!(d.namespaces(), &[Some("me".to_string())]);
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let _h = tokio::spawn(d.run(tx));
    let mut v = View::default();
    v.until(&mut rx, "own namespace pod", |v| {
        v.groups.contains_key("pod/me/a")
    })
    .await;
    assert_eq!(v.groups.len(), 1);

    // api_server + tls_config.ca
    let mut cfg = config(&srv, Role::Pod);
    cfg.http.tls_config.ca = srv.ca_pem().expect("ca").to_string();
    let (mut rx, _e, _h2) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "all pods over TLS", |v| v.groups.len() == 2)
        .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_the_fake_server() {
    use serde_json::json;
    init_tracing();
    let srv = server().await;
    srv.apply(json!({"kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}));
    let mut p1 = fixtures::pod("default", "p1", "10.1.0.1", 1);
    p1["spec"]["nodeName"] = "n1".into();
    srv.apply(p1);
    srv.apply(json!({"kind": "Service", "metadata": {"name": "s1", "namespace": "default", "labels": {"svc": "yes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));
    srv.apply(json!({"kind": "EndpointSlice", "metadata": {"name": "s1-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "s1"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "nodeName": "n1",
                       "targetRef": {"kind": "Pod", "name": "p1", "namespace": "default"}}]}));
    srv.apply(
        json!({"kind": "Ingress", "metadata": {"name": "i1", "namespace": "default"},
        "spec": {"rules": [{"host": "a.example", "http": {"paths": [{"path": "/x"}]}}]}}),
    );

    let mut expect = vec![
        (Role::Node, "node/n1"),
        (Role::Service, "svc/default/s1"),
        (Role::Ingress, "ingress/default/i1"),
        (Role::EndpointSlice, "endpointslice/default/s1-abc"),
        (Role::Pod, "pod/default/p1"),
    ];
    for (role, source) in expect.drain(..) {
        let mut cfg = config(&srv, role);
        cfg.attach_metadata.node = matches!(role, Role::Pod | Role::EndpointSlice);
        let (mut rx, _e, h) = start(cfg).await;
        let mut v = View::default();
        v.until(&mut rx, source, |v| v.groups.contains_key(source))
            .await;
        let g = &v.groups[source];
        match role {
            Role::EndpointSlice => {
                assert_eq!(g.labels["__meta_kubernetes_service_label_svc"], "yes");
                assert_eq!(g.targets[0]["__meta_kubernetes_pod_name"], "p1");
                assert_eq!(g.targets[0]["__meta_kubernetes_node_label_zone"], "a");
                // Service change refreshes the slice's group.
                srv.apply(json!({"kind": "Service", "metadata": {"name": "s1", "namespace": "default", "labels": {"svc": "changed"}},
                    "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}));
                v.until(&mut rx, "service label change", |v| {
                    v.groups[source]
                        .labels
                        .get("__meta_kubernetes_service_label_svc")
                        .map(String::as_str)
                        == Some("changed")
                })
                .await;
            }
            Role::Pod => {
                assert_eq!(g.labels["__meta_kubernetes_node_label_zone"], "a");
                // Node change refreshes the pods on it.
                srv.apply(json!({"kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "b"}},
                    "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}));
                v.until(&mut rx, "node label change", |v| {
                    v.groups[source]
                        .labels
                        .get("__meta_kubernetes_node_label_zone")
                        .map(String::as_str)
                        == Some("b")
                })
                .await;
            }
            Role::Node => assert_eq!(g.targets[0]["__address__"], "10.0.0.1:10250"),
            Role::Service => assert_eq!(g.targets[0]["__address__"], "s1.default.svc:80"),
            Role::Ingress => assert_eq!(g.targets[0]["__meta_kubernetes_ingress_path"], "/x"),
            _ => {}
        }
        h.abort();
    }
    let paths: Vec<String> = srv.requests().into_iter().map(|r| r.path).collect();
    for p in [
        "/api/v1/nodes",
        "/api/v1/services",
        "/apis/networking.k8s.io/v1/ingresses",
        "/apis/discovery.k8s.io/v1/endpointslices",
    ] {
        assert!(paths.iter().any(|x| x == p), "no request for {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_file_authorization_file_and_http_headers() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let dir = std::env::temp_dir().join(format!("kubesd-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\nusers:\n- name: u\n  user:\n    token: {TOKEN}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            srv.url()
        ),
    )
    .expect("kubeconfig");
    let mut cfg = kubesd::SdConfig::new(Role::Pod);
    cfg.kubeconfig_file = kc.to_string_lossy().into_owned();
    let (mut rx, _e, h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "pod via kubeconfig", |v| {
        v.groups.contains_key("pod/default/a")
    })
    .await;
    h.abort();

    // authorization.credentials_file (re-read by the client) and http_headers.
    let cred = dir.join("cred");
    std::fs::write(&cred, TOKEN).expect("cred");
    let cfg: kubesd::SdConfig = serde_yaml::from_str(&format!(
        "role: pod\napi_server: {}\nauthorization:\n  credentials_file: {}\nhttp_headers:\n  X-Test:\n    values: [one]\n    secrets: [two]\n",
        srv.url(),
        cred.display()
    ))
    .expect("config");
    let (mut rx, _e, _h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "pod via credentials_file", |v| {
        v.groups.contains_key("pod/default/a")
    })
    .await;
    assert!(srv
        .requests()
        .iter()
        .any(|r| r.headers.get("x-test").map(String::as_str) == Some("one, two")));
    let e = serde_yaml::from_str::<kubesd::SdConfig>(
        "role: pod\napi_server: http://x\nhttp_headers: {Authorization: {values: [a]}}",
    )
    .expect_err("reserved");
    assert!(
        e.to_string()
            .contains("setting header \"Authorization\" is not allowed"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_converts_every_group_including_the_empty_ones() {
    init_tracing();
    let srv = server().await;
    for i in 0..250 {
        srv.apply(fixtures::pod("default", &format!("p{i}"), "10.1.0.1", 2));
    }
    let d = kubesd::Discovery::new(
        config(&srv, Role::Pod),
        kubesd::Options {
            list_page_size: 40,
            ..fast_options()
        },
    )
    .await
    .expect("discovery");
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let _h = tokio::spawn(d.run_with(tx, |g| (g.source, g.targets.len())));
    let first = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("update");
    assert_eq!(first.len(), 250, "the first update holds every group");
    assert!(first.iter().all(|(_, n)| *n == 2));
    assert!(first.windows(2).all(|w| w[0].0 < w[1].0), "in source order");
    // Paged: 250 pods at 40 a page.
    let pages = srv
        .requests()
        .iter()
        .filter(|r| !r.watch && r.path == "/api/v1/pods")
        .count();
    assert_eq!(pages, 7);
    srv.delete("Pod", "default", "p0");
    let gone = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("update");
    assert_eq!(gone, vec![("pod/default/p0".to_string(), 0)]);
}
