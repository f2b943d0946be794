//! Configuration: YAML field names, defaults and Prometheus' validation messages.

use kubesd::{Role, SdConfig};

fn parse(y: &str) -> Result<SdConfig, String> {
    serde_yaml::from_str::<SdConfig>(y).map_err(|e| e.to_string())
}

fn err(y: &str) -> String {
    match parse(y) {
        Ok(c) => panic!("expected an error for {y:?}, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn full_config() {
    let c = parse(
        r#"
role: endpoints
api_server: https://k8s.example:6443
bearer_token_file: /var/run/token
tls_config:
  ca_file: /etc/ca.pem
  insecure_skip_verify: false
namespaces:
  names: [a, b]
selectors:
  - role: pod
    label: app=web
    field: spec.nodeName=n1
  - role: service
    label: tier in (x,y)
attach_metadata:
  node: true
follow_redirects: false
"#,
    )
    .expect("valid");
    assert_eq!(c.role, Role::Endpoints);
    assert_eq!(c.namespaces.names, vec!["a", "b"]);
    assert!(c.attach_metadata.node);
    assert!(!c.http.follow_redirects);
    assert!(c.http.enable_http2);
    assert_eq!(
        c.selector_for(Role::Pod),
        (Some("app=web"), Some("spec.nodeName=n1"))
    );
    assert_eq!(c.selector_for(Role::Endpoints), (None, None));
}

#[test]
fn defaults() {
    let c = parse("role: pod").expect("valid");
    assert_eq!(c, SdConfig::new(Role::Pod));
    assert!(c.http.follow_redirects && c.http.enable_http2);
}

#[test]
fn prometheus_validation_messages() {
    assert!(err("api_server: http://x")
        .contains("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"));
    assert!(err("role: pods").contains("unknown Kubernetes SD role \"pods\""));
    assert!(err("role: pod\nbearer_token: x").contains(
        "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
    ));
    assert!(err("role: pod\napi_server: http://x\nkubeconfig_file: /k")
        .contains("cannot use 'kubeconfig_file' and 'api_server' simultaneously"));
    assert!(
        err("role: pod\nkubeconfig_file: /k\ntls_config: {insecure_skip_verify: true}").contains(
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
        )
    );
    assert!(
        err("role: pod\napi_server: http://x\nnamespaces: {own_namespace: true}")
            .contains("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously")
    );
    assert!(
        err("role: pod\nkubeconfig_file: /k\nnamespaces: {own_namespace: true}")
            .contains("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously")
    );
    assert!(
        err("role: pod\napi_server: http://x\nbearer_token: a\nbearer_token_file: b")
            .contains("at most one of bearer_token & bearer_token_file must be configured")
    );
    assert!(err("role: pod\napi_server: http://x\nbearer_token: a\nbasic_auth: {username: u}").contains(
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
    ));
    assert!(
        err("role: endpoints\nselectors: [{role: node, label: a=b}]")
            .contains("endpoints role supports only pod, service, endpoints selectors")
    );
    assert!(err("role: ingress\nselectors: [{role: pod}]")
        .contains("ingress role supports only ingress selectors"));
    assert!(err("role: node\nselectors: [{role: pod}]")
        .contains("node role supports only node selectors"));
    assert!(
        err("role: endpointslice\nselectors: [{role: pod}, {role: pod}]")
            .contains("duplicated selector role: pod")
    );
    assert!(
        err("role: pod\nselectors: [{role: pod, field: nonsense}]").contains("invalid selector")
    );
    assert!(err("role: pod\nunknown_key: 1").contains("unknown field"));
    assert!(err("role: pod\nattach_metadata: {namespace: true}").contains("unknown field"));
}

#[tokio::test]
async fn in_cluster_errors() {
    let opts = kubesd::Options {
        in_cluster: kubesd::InCluster {
            host: None,
            port: None,
            service_account_dir: "/nonexistent".into(),
        },
        ..kubesd::Options::default()
    };
    let e = kubesd::Discovery::new(SdConfig::new(Role::Pod), opts.clone())
        .await
        .expect_err("no env");
    assert!(
        e.to_string()
            .contains("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"),
        "{e}"
    );
    let opts = kubesd::Options {
        in_cluster: kubesd::InCluster {
            host: Some("127.0.0.1".into()),
            port: Some("1".into()),
            service_account_dir: "/nonexistent".into(),
        },
        ..opts
    };
    let e = kubesd::Discovery::new(SdConfig::new(Role::Pod), opts)
        .await
        .expect_err("no token");
    assert!(e.to_string().contains("/nonexistent/token"), "{e}");
}
