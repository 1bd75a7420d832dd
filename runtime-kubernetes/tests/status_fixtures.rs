//! The status function over Deployment and Pod objects as the API server returns them
//! (`tests/vectors/kubernetes/status/*.yaml`, one case a file: what it shows, the Deployment,
//! its Pods, and the status, message and restart count expected). Table-driven: a new case is
//! a new file.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use q8s_runtime::InstanceStatus;
use q8s_runtime_kubernetes::status::derive;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    expected: Option<Expected>,
    deployment: Option<Deployment>,
    pods: Vec<Pod>,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    status: InstanceStatus,
    message: Option<String>,
    restarts: u32,
}

/// The threshold the cases are written for (the settings' default).
const MAX_RESTARTS: u32 = 5;

fn cases() -> Vec<(String, Case)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/kubernetes/status");
    let mut cases: Vec<(String, Case)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let case =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                case,
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

#[test]
fn every_recorded_case_gives_its_status() {
    let cases = cases();
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    let mut wrong = Vec::new();
    for (name, case) in &cases {
        let got = derive(case.deployment.as_ref(), &case.pods, MAX_RESTARTS).map(|u| Expected {
            status: u.status,
            message: u.message,
            restarts: u.restarts,
        });
        if got != case.expected {
            wrong.push(format!(
                "{name} ({}):\n  expected {:?}\n  got      {got:?}",
                case.about, case.expected
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_cases_cover_every_status() {
    let seen: Vec<InstanceStatus> = cases()
        .iter()
        .filter_map(|(_, c)| c.expected.as_ref().map(|e| e.status))
        .collect();
    for status in [
        InstanceStatus::Pending,
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Suspended,
        InstanceStatus::Failed,
    ] {
        assert!(seen.contains(&status), "no case ends {status}");
    }
}

#[test]
fn the_threshold_decides_between_restarting_and_failed() {
    let (_, case) = cases()
        .into_iter()
        .find(|(name, _)| name == "crash-loop-past-threshold")
        .unwrap();
    let derive_with = |max| derive(case.deployment.as_ref(), &case.pods, max).unwrap();
    assert_eq!(derive_with(5).status, InstanceStatus::Failed);
    assert_eq!(derive_with(6).status, InstanceStatus::Starting);
    assert_eq!(
        derive_with(6).message.as_deref(),
        Some("the instance exited with code 1; restart 5")
    );
}

#[test]
fn a_message_never_quotes_what_the_app_wrote() {
    // The termination message is a file the app writes; a secret printed there must not reach
    // the instance's status.
    let (_, mut case) = cases()
        .into_iter()
        .find(|(name, _)| name == "crash-loop-past-threshold")
        .unwrap();
    let status = case.pods[0].status.as_mut().unwrap();
    let main = &mut status.container_statuses.as_mut().unwrap()[0];
    let ended = main
        .last_state
        .as_mut()
        .unwrap()
        .terminated
        .as_mut()
        .unwrap();
    ended.message = Some("DATABASE_URL=postgres://app:hunter2@db".into());
    let update = derive(case.deployment.as_ref(), &case.pods, MAX_RESTARTS).unwrap();
    assert!(!update.message.unwrap().contains("hunter2"));
}
