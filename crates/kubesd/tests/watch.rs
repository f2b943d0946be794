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
    v.until(&mut rx, "initial pod", |v| v.groups.contains_key("pod/default/a")).await;
    assert_eq!(v.targets(), 2);
    srv.apply(fixtures::pod("default", "b", "10.1.0.2", 1));
    v.until(&mut rx, "pod b", |v| v.groups.contains_key("pod/default/b")).await;
    srv.delete("Pod", "default", "a");
    v.until(&mut rx, "pod a gone", |v| !v.groups.contains_key("pod/default/a")).await;
    assert_eq!(v.targets(), 1);
}
