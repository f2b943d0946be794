//! `deploy/kubernetes/`: each manifest deserialises into the `k8s-openapi` type of its kind with
//! nothing left over (serialising it back gives the same document, so a misspelt or misplaced key
//! fails), and the pieces fit together: the DaemonSet runs the ConfigMap's config (the chart's,
//! identical to `configs/promtail-config-kubernetes.yml`) with the chart's mounts, security
//! context, `HOSTNAME` and readiness probe, under a service account bound to a role that can list
//! and watch what the config discovers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every manifest file's text, by name.
fn manifests() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir()).expect("deploy/kubernetes") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            out.insert(name, std::fs::read_to_string(&p).expect("read"));
        }
    }
    out
}

/// The document as `T`, checked to lose nothing: `T` serialised back equals the YAML.
fn typed<T: DeserializeOwned + Serialize>(name: &str, text: &str) -> T {
    let value: serde_json::Value =
        serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
    let t: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{name}: not a {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&t).expect("serialise");
    assert_eq!(
        back, value,
        "{name}: keys the type does not know were dropped (misspelt or misplaced?)"
    );
    t
}

fn kind_of(name: &str, text: &str) -> String {
    let v: serde_json::Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    v["kind"].as_str().unwrap_or_default().to_string()
}

#[test]
fn every_manifest_is_its_kind_and_the_pieces_fit() {
    let files = manifests();
    let mut ns = None;
    let mut sa = None;
    let mut role = None;
    let mut binding = None;
    let mut cm = None;
    let mut ds = None;
    for (name, text) in &files {
        match kind_of(name, text).as_str() {
            "Namespace" => ns = Some(typed::<Namespace>(name, text)),
            "ServiceAccount" => sa = Some(typed::<ServiceAccount>(name, text)),
            "ClusterRole" => role = Some(typed::<ClusterRole>(name, text)),
            "ClusterRoleBinding" => binding = Some(typed::<ClusterRoleBinding>(name, text)),
            "ConfigMap" => cm = Some(typed::<ConfigMap>(name, text)),
            "DaemonSet" => ds = Some(typed::<DaemonSet>(name, text)),
            other => panic!("{name}: unexpected kind {other:?}"),
        }
    }
    let (ns, sa, role, binding, cm, ds) = (
        ns.expect("a Namespace"),
        sa.expect("a ServiceAccount"),
        role.expect("a ClusterRole"),
        binding.expect("a ClusterRoleBinding"),
        cm.expect("a ConfigMap"),
        ds.expect("a DaemonSet"),
    );
    let namespace = ns.metadata.name.clone().expect("namespace name");
    // Namespaced objects live in it; the Namespace sorts first so `kubectl apply -f dir/` works.
    assert_eq!(
        files.keys().next().map(String::as_str),
        Some("00-namespace.yaml")
    );
    for m in [&sa.metadata, &cm.metadata, &ds.metadata] {
        assert_eq!(m.namespace.as_deref(), Some(namespace.as_str()));
    }

    // RBAC: the binding gives the DaemonSet's service account the role.
    let sa_name = sa.metadata.name.clone().expect("sa name");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subjects = binding.subjects.clone().unwrap_or_default();
    assert!(subjects.iter().any(|s| s.kind == "ServiceAccount"
        && s.name == sa_name
        && s.namespace.as_deref() == Some(namespace.as_str())));
    // The least rights: list and watch pods (the config's only role), nothing to write.
    let rules = role.rules.clone().unwrap_or_default();
    let can = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r.api_groups
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|g| g.is_empty())
                && r.resources
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    assert!(can("pods", "list") && can("pods", "watch"));
    for r in &rules {
        for v in &r.verbs {
            assert!(["get", "list", "watch"].contains(&v.as_str()), "verb {v}");
        }
    }

    // The ConfigMap holds the chart's config, byte for byte.
    let data = cm.data.clone().unwrap_or_default();
    let config = data
        .get("promtail.yaml")
        .expect("promtail.yaml in the ConfigMap");
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/promtail-config-kubernetes.yml"),
    )
    .expect("configs/promtail-config-kubernetes.yml");
    assert_eq!(config, &file, "ConfigMap and configs/ file differ");
    assert!(config.contains("filename: /run/promtail/positions.yaml"));
    assert!(config.contains("http_listen_port: 3101"));

    // The DaemonSet.
    let spec = ds.spec.clone().expect("spec");
    let pod = spec.template.spec.clone().expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some(sa_name.as_str()));
    let psc = pod.security_context.clone().expect("pod security context");
    assert_eq!(psc.run_as_user, Some(0));
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    let csc = c
        .security_context
        .clone()
        .expect("container security context");
    assert_eq!(csc.read_only_root_filesystem, Some(true));
    assert_eq!(csc.allow_privilege_escalation, Some(false));
    assert_eq!(
        csc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_string()])
    );
    let env = c.env.clone().unwrap_or_default();
    let hostname = env.iter().find(|e| e.name == "HOSTNAME").expect("HOSTNAME");
    assert_eq!(
        hostname
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );
    let args = c.args.clone().unwrap_or_default();
    assert!(args.contains(&"-config.file=/etc/promtail/promtail.yaml".to_string()));
    let probe = c.readiness_probe.clone().expect("readiness probe");
    let get = probe.http_get.expect("httpGet");
    assert_eq!(get.path.as_deref(), Some("/ready"));
    let port_name = match &get.port {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
        other => panic!("probe port {other:?}"),
    };
    let ports = c.ports.clone().unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| p.name.as_deref() == Some(port_name.as_str()))
        .expect("the probe's port");
    assert_eq!(port.container_port, 3101, "the config's http_listen_port");

    // Mounts: the config, the positions directory and the log directories, from the host.
    let mounts: BTreeMap<String, (String, bool)> = c
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.mount_path, (m.name, m.read_only.unwrap_or(false))))
        .collect();
    let volumes: BTreeMap<String, k8s_openapi::api::core::v1::Volume> = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name.clone(), v))
        .collect();
    let host_path = |mount: &str| -> (String, bool) {
        let (vol, ro) = mounts
            .get(mount)
            .unwrap_or_else(|| panic!("{mount} mounted"));
        let v = volumes.get(vol).unwrap_or_else(|| panic!("volume {vol}"));
        let hp = v
            .host_path
            .clone()
            .unwrap_or_else(|| panic!("{vol}: hostPath"));
        (hp.path, *ro)
    };
    assert_eq!(host_path("/var/log/pods"), ("/var/log/pods".into(), true));
    assert_eq!(
        host_path("/var/lib/docker/containers"),
        ("/var/lib/docker/containers".into(), true)
    );
    assert_eq!(
        host_path("/run/promtail"),
        ("/run/promtail".into(), false),
        "positions survive a restart, on the host, where Promtail's chart keeps them"
    );
    let (config_vol, _) = mounts.get("/etc/promtail").expect("config mount");
    let cfg_source = volumes
        .get(config_vol)
        .and_then(|v| v.config_map.clone())
        .expect("config from the ConfigMap");
    assert_eq!(
        cfg_source.name,
        cm.metadata.name.clone().unwrap_or_default()
    );
}

#[test]
fn the_configmaps_config_passes_check_syntax() {
    let files = manifests();
    let text = files
        .values()
        .find(|t| t.contains("kind: ConfigMap"))
        .expect("a ConfigMap");
    let cm: ConfigMap = typed("configmap", text);
    let config = cm
        .data
        .and_then(|d| d.get("promtail.yaml").cloned())
        .expect("promtail.yaml");
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("promtail.yaml");
    std::fs::write(&path, config).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrotail"))
        .arg(format!("-config.file={}", path.display()))
        .arg("-check-syntax")
        .output()
        .expect("run ferrotail");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Valid config file"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
