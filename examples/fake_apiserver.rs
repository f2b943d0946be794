//! A fake Kubernetes API server holding PODS running pods spread over NODES nodes, for
//! `benches/kubernetes.py`. Prints its URL, then serves until stdin is closed.
//!
//! `cargo run --release --example fake_apiserver -- PODS NODES`  (pods `node-<i % NODES>`)

use std::io::Write;

use kubesd::testing::{FakeApiServer, FakeOptions};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let nodes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let srv = FakeApiServer::start(FakeOptions::default())
            .await
            .expect("fake API server");
        for i in 0..pods {
            let (ns, name) = (format!("ns{}", i % 20), format!("web-5d8f9c7b6d-{i:05}"));
            srv.apply(json!({
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "uid": format!("uid-{i:05}"),
                    "labels": {"app": "web", "app.kubernetes.io/instance": "shop", "pod-template-hash": "5d8f9c7b6d"},
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f9c7b6d", "uid": "rs-1", "controller": true}]
                },
                "spec": {
                    "nodeName": format!("node-{}", i % nodes),
                    "containers": [{"name": "app", "image": "registry.example/web:1.0", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]
                },
                "status": {
                    "phase": "Running",
                    "podIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                    "hostIP": "10.0.0.1",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example/web:1.0", "imageID": "", "containerID": format!("containerd://{i:064}")}]
                }
            }));
        }
        println!("{}", srv.url());
        let _ = std::io::stdout().flush();
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await;
    });
}
