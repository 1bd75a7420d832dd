//! Owner references, against the stateful fake API server: `Cluster::apply_owned` makes the
//! Service, Secret, PVC and NetworkPolicy owned by the instance's Deployment (a new instance
//! and an existing one alike, a second apply changing nothing); suspend keeps them; deleting
//! the Deployment alone takes them with it, after the delete's propagation policy
//! (background, foreground) or leaves them without the reference (orphan); and the fake's
//! collector leaves alone what another instance or nobody owns.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::DeleteParams;
use q8s_runtime::InstanceSpec;
use q8s_runtime_kubernetes::KubernetesSettings;
use q8s_runtime_kubernetes::apply::Cluster;
use q8s_runtime_kubernetes::fake_api::FakeApi;
use q8s_runtime_kubernetes::manifest::{InstanceObjects, Replicas};
use serde_json::{Value, json};
use uuid::Uuid;

const NS: &str = "q8s-instances";

/// The kinds the Deployment owns: (API prefix, plural).
const OWNED: [(&str, &str); 4] = [
    ("api/v1", "secrets"),
    ("api/v1", "persistentvolumeclaims"),
    ("api/v1", "services"),
    ("apis/networking.k8s.io/v1", "networkpolicies"),
];

fn objects(spec: &InstanceSpec) -> InstanceObjects {
    let settings = KubernetesSettings::new(NS, "ghcr.io/q8s/runtime:0.1.0");
    InstanceObjects::build(spec, &settings, Replicas::Running).unwrap()
}

/// The owned objects of the instance, as stored (`None` where missing).
fn owned(api: &FakeApi, id: Uuid) -> Vec<Option<Value>> {
    let name = format!("q8s-{id}");
    OWNED
        .iter()
        .map(|(prefix, plural)| api.get(prefix, NS, plural, &name))
        .collect()
}

/// Starts an instance through `apply_owned`; its Deployment's uid.
async fn started(api: &FakeApi, spec: &InstanceSpec) -> String {
    let cluster = Cluster::new(api.client(NS), NS);
    let applied = cluster.apply_owned(&objects(spec)).await.unwrap();
    applied.metadata.uid.unwrap()
}

async fn delete_deployment(api: &FakeApi, id: Uuid, params: &DeleteParams) {
    let deployments: Api<Deployment> = Api::namespaced(api.client(NS), NS);
    deployments
        .delete(&format!("q8s-{id}"), params)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_object_but_the_deployment_is_owned_by_it_and_applying_again_changes_nothing() {
    let api = FakeApi::new();
    let spec = common::spec();
    let id = spec.instance_id;
    let uid = started(&api, &spec).await;
    let stored = owned(&api, id);
    for (object, (_, plural)) in stored.iter().zip(OWNED) {
        let object = object.as_ref().unwrap_or_else(|| panic!("{plural}"));
        assert_eq!(
            object["metadata"]["ownerReferences"],
            json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("q8s-{id}"),
                    "uid": uid, "controller": false, "blockOwnerDeletion": false}]),
            "{plural}"
        );
    }
    let deployment = api
        .get("apis/apps/v1", NS, "deployments", &format!("q8s-{id}"))
        .unwrap();
    assert!(deployment["metadata"]["ownerReferences"].is_null());

    // Applied again (a resume): one get and five applies, nothing changes.
    let before = api.requests().len();
    let again = started(&api, &spec).await;
    assert_eq!(again, uid);
    let requests = &api.requests()[before..];
    assert_eq!(requests.len(), 6, "{requests:#?}");
    assert!(requests[0].starts_with("GET /apis/apps/v1/namespaces/q8s-instances/deployments/"));
    assert_eq!(owned(&api, id), stored, "a second apply changed something");
}

#[tokio::test]
async fn deleting_the_deployment_in_the_background_deletes_what_it_owns() {
    let api = FakeApi::new();
    let (doomed, neighbour) = (common::spec(), common::spec());
    started(&api, &doomed).await;
    started(&api, &neighbour).await;
    // Suspended: the Deployment stays at zero replicas, and so does everything it owns.
    let cluster = Cluster::new(api.client(NS), NS);
    cluster.suspend(doomed.instance_id).await.unwrap();
    assert!(owned(&api, doomed.instance_id).iter().all(Option::is_some));

    delete_deployment(&api, doomed.instance_id, &DeleteParams::background()).await;
    assert!(
        owned(&api, doomed.instance_id).iter().all(Option::is_none),
        "the volume, Secret, Service and NetworkPolicy go with their owner"
    );
    assert!(
        owned(&api, neighbour.instance_id)
            .iter()
            .all(Option::is_some)
    );
    assert_eq!(api.len(), 5, "the neighbour's five objects are left");
}

#[tokio::test]
async fn a_foreground_delete_deletes_the_owner_and_its_dependents() {
    let api = FakeApi::new();
    let spec = common::spec();
    let id = spec.instance_id;
    started(&api, &spec).await;
    delete_deployment(&api, id, &DeleteParams::foreground()).await;
    assert!(owned(&api, id).iter().all(Option::is_none));
    assert!(api.is_empty(), "{:#?}", api.requests());
}

#[tokio::test]
async fn an_orphaning_delete_leaves_the_dependents_without_the_reference() {
    let api = FakeApi::new();
    let spec = common::spec();
    let id = spec.instance_id;
    started(&api, &spec).await;
    delete_deployment(&api, id, &DeleteParams::orphan()).await;
    for object in owned(&api, id) {
        let object = object.expect("an orphan stays");
        assert!(object["metadata"]["ownerReferences"].is_null(), "{object}");
    }
}

#[tokio::test]
async fn what_another_owner_or_nobody_owns_stays() {
    let api = FakeApi::new();
    let spec = common::spec();
    let id = spec.instance_id;
    let uid = started(&api, &spec).await;
    let other = Uuid::new_v4().to_string();
    let reference = |uid: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "x", "uid": uid})
    };
    // A ConfigMap of two owners, one of them this Deployment, and one of nobody.
    api.put(
        "api/v1",
        NS,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "shared",
                            "ownerReferences": [reference(&uid), reference(&other)]}}),
    );
    api.put(
        "api/v1",
        NS,
        "configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "free"}}),
    );
    delete_deployment(&api, id, &DeleteParams::background()).await;
    let shared = api.get("api/v1", NS, "configmaps", "shared").unwrap();
    assert_eq!(
        shared["metadata"]["ownerReferences"],
        json!([reference(&other)]),
        "still owned by the other"
    );
    assert!(api.get("api/v1", NS, "configmaps", "free").is_some());
    assert!(owned(&api, id).iter().all(Option::is_none));
}
