//! The runtime's calls against the stateful fake API server (`fake_api`): what the objects
//! look like after apply, suspend and terminate, that a second apply changes nothing, that
//! terminate removes one instance's objects and nobody else's, and that the status function
//! reads what the fake stores.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use q8s_runtime::{InstanceSpec, InstanceStatus};
use q8s_runtime_kubernetes::KubernetesSettings;
use q8s_runtime_kubernetes::apply::Cluster;
use q8s_runtime_kubernetes::fake_api::FakeApi;
use q8s_runtime_kubernetes::manifest::{InstanceObjects, Replicas};
use q8s_runtime_kubernetes::status::derive;
use serde_json::{Value, json};
use uuid::Uuid;

const NS: &str = "q8s-instances";

/// Every kind an instance has: (API prefix, plural).
const KINDS: [(&str, &str); 5] = [
    ("api/v1", "secrets"),
    ("api/v1", "persistentvolumeclaims"),
    ("api/v1", "services"),
    ("apis/networking.k8s.io/v1", "networkpolicies"),
    ("apis/apps/v1", "deployments"),
];

fn objects(spec: &InstanceSpec, replicas: Replicas) -> InstanceObjects {
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    InstanceObjects::build(spec, &settings, replicas).unwrap()
}

fn setup() -> (FakeApi, Cluster) {
    let api = FakeApi::new();
    let cluster = Cluster::new(api.client(NS), NS);
    (api, cluster)
}

/// The instance's objects in the fake, by kind (`None` where missing).
fn stored(api: &FakeApi, id: Uuid) -> Vec<Option<Value>> {
    let name = format!("q8s-{id}");
    KINDS
        .iter()
        .map(|(prefix, plural)| api.get(prefix, NS, plural, &name))
        .collect()
}

fn versions(objects: &[Option<Value>]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o.as_ref().unwrap()["metadata"]["resourceVersion"].to_string())
        .collect()
}

#[tokio::test]
async fn apply_creates_every_object_and_a_second_apply_changes_nothing() {
    let (api, cluster) = setup();
    let spec = common::spec();
    let deployment = cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    assert!(deployment.metadata.uid.is_some());
    let first = stored(&api, spec.instance_id);
    assert!(first.iter().all(Option::is_some), "{first:?}");
    assert_eq!(api.len(), 5);
    cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    let second = stored(&api, spec.instance_id);
    assert_eq!(
        versions(&first),
        versions(&second),
        "a second apply changed objects"
    );
    assert_eq!(first, second);
    // Every apply carried the field manager and force.
    let applies: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    assert_eq!(applies.len(), 10);
    assert!(
        applies
            .iter()
            .all(|r| r.contains("fieldManager=q8s") && r.contains("force=true"))
    );
}

#[tokio::test]
async fn a_changed_spec_changes_the_deployment_and_its_generation() {
    let (api, cluster) = setup();
    let mut spec = common::spec();
    cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    let name = format!("q8s-{}", spec.instance_id);
    let before = api.get("apis/apps/v1", NS, "deployments", &name).unwrap();
    spec.memory_limit = Some(512 << 20);
    cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    let after = api.get("apis/apps/v1", NS, "deployments", &name).unwrap();
    assert_ne!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(after["metadata"]["generation"], 2);
    let limits = &after["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert_eq!(limits["memory"], "512Mi");
}

#[tokio::test]
async fn suspend_keeps_every_object_at_zero_replicas_and_resume_brings_one_back() {
    let (api, cluster) = setup();
    let spec = common::spec();
    let id = spec.instance_id;
    cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    assert!(cluster.suspend(id).await.unwrap());
    let after = stored(&api, id);
    assert!(
        after.iter().all(Option::is_some),
        "suspend removed an object"
    );
    let deployment = after[4].clone().unwrap();
    assert_eq!(deployment["spec"]["replicas"], 0);
    let deployment: Deployment = serde_json::from_value(deployment).unwrap();
    let status = derive(Some(&deployment), &[], 5).unwrap();
    assert_eq!(status.status, InstanceStatus::Suspended);

    cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap();
    let deployment = stored(&api, id)[4].clone().unwrap();
    assert_eq!(deployment["spec"]["replicas"], 1);
    let deployment: Deployment = serde_json::from_value(deployment).unwrap();
    let status = derive(Some(&deployment), &[], 5).unwrap();
    assert_eq!(status.status, InstanceStatus::Pending, "{status:?}");

    // Suspending what is not there is no error, and makes nothing.
    assert!(!cluster.suspend(Uuid::new_v4()).await.unwrap());
    assert_eq!(api.len(), 5);
}

#[tokio::test]
async fn terminate_removes_the_instance_and_nothing_of_its_neighbours() {
    let (api, cluster) = setup();
    let (doomed, neighbour) = (common::spec(), common::spec());
    cluster
        .apply(&objects(&doomed, Replicas::Running))
        .await
        .unwrap();
    cluster
        .apply(&objects(&neighbour, Replicas::Running))
        .await
        .unwrap();
    // An object of somebody else's in the namespace, and one of q8s's without the instance.
    api.put(
        "api/v1",
        NS,
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "not-ours", "labels": {"q8s.dev/instance": doomed.instance_id.to_string()}}}),
    );
    api.put(
        "api/v1",
        NS,
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "q8s-other", "labels": {"app.kubernetes.io/managed-by": "q8s"}}}),
    );
    cluster.terminate(doomed.instance_id).await.unwrap();
    assert!(
        stored(&api, doomed.instance_id).iter().all(Option::is_none),
        "terminate left objects"
    );
    assert!(
        stored(&api, neighbour.instance_id)
            .iter()
            .all(Option::is_some)
    );
    assert!(
        api.get("api/v1", NS, "secrets", "not-ours").is_some(),
        "deleted a stranger"
    );
    assert!(api.get("api/v1", NS, "services", "q8s-other").is_some());
    assert_eq!(api.len(), 7);
    // Terminating again: everything is gone already, which is no error.
    cluster.terminate(doomed.instance_id).await.unwrap();
    assert_eq!(api.len(), 7);
}

#[tokio::test]
async fn the_runtime_lists_its_deployments_and_only_them() {
    let (api, cluster) = setup();
    let (a, b) = (common::spec(), common::spec());
    cluster
        .apply(&objects(&a, Replicas::Running))
        .await
        .unwrap();
    cluster
        .apply(&objects(&b, Replicas::Suspended))
        .await
        .unwrap();
    api.put(
        "apis/apps/v1",
        NS,
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "someone-else", "labels": {"app": "x"}},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {}}}),
    );
    let mut names: Vec<String> = cluster
        .deployments()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.metadata.name.unwrap())
        .collect();
    names.sort();
    let mut expected = vec![
        format!("q8s-{}", a.instance_id),
        format!("q8s-{}", b.instance_id),
    ];
    expected.sort();
    assert_eq!(names, expected);
    // The fake kubelet made the running one's pod, and none for the suspended one.
    assert_eq!(cluster.pods(a.instance_id).await.unwrap().len(), 1);
    assert!(cluster.pods(b.instance_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn changing_a_deployment_selector_is_refused_as_the_api_server_does() {
    let (api, cluster) = setup();
    let spec = common::spec();
    let name = format!("q8s-{}", spec.instance_id);
    api.put(
        "apis/apps/v1",
        NS,
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "labels": {}},
               "spec": {"selector": {"matchLabels": {"app": "old"}}, "template": {}}}),
    );
    let err = cluster
        .apply(&objects(&spec, Replicas::Running))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cluster-invalid");
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[tokio::test]
async fn a_field_q8s_no_longer_applies_is_removed_and_what_others_set_stays() {
    let (api, cluster) = setup();
    let spec = common::spec();
    let id = spec.instance_id;
    let mut settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    settings.constraints = Some("version = \"site-1\"\n".into());
    let with = InstanceObjects::build(&spec, &settings, Replicas::Running).unwrap();
    cluster.apply(&with).await.unwrap();
    // Someone labels the Service by hand (another writer's field).
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(api.client(NS), NS);
    let label = json!({"metadata": {"labels": {"team": "data"}}});
    services
        .patch(
            &format!("q8s-{id}"),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&label),
        )
        .await
        .unwrap();
    let secret = |api: &FakeApi| {
        api.get("api/v1", NS, "secrets", &format!("q8s-{id}"))
            .unwrap()
    };
    assert!(secret(&api)["data"]["q8s.constraints"].is_string());

    // The admin drops the constraints file: the next apply no longer sends the key.
    settings.constraints = None;
    let without = InstanceObjects::build(&spec, &settings, Replicas::Running).unwrap();
    cluster.apply(&without).await.unwrap();
    let data = &secret(&api)["data"];
    assert!(data["q8s.constraints"].is_null(), "{data}");
    assert!(data["q8s.bundle-url"].is_string(), "{data}");
    let service = api
        .get("api/v1", NS, "services", &format!("q8s-{id}"))
        .unwrap();
    assert_eq!(service["metadata"]["labels"]["team"], "data", "{service}");
    assert!(
        service["spec"]["clusterIP"].is_string(),
        "the server's field stays"
    );
    let init = &api
        .get("apis/apps/v1", NS, "deployments", &format!("q8s-{id}"))
        .unwrap()["spec"]["template"]["spec"]["initContainers"][0]["env"];
    assert!(
        !init.to_string().contains("Q8S_CONSTRAINTS"),
        "the init container's variable goes too: {init}"
    );
}
