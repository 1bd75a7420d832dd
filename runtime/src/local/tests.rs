//! The local runtime's checks of a spec.

use super::*;

fn spec(volume_mount: Option<&str>, module: &str) -> InstanceSpec {
    InstanceSpec {
        instance_id: Uuid::new_v4(),
        app_id: Uuid::new_v4(),
        owner_id: Uuid::new_v4(),
        app_name: "a".into(),
        app_version: "1".into(),
        bundle_sha256: "0".repeat(64),
        bundle: BundleSource::LocalFile(PathBuf::from("/x.qz")),
        module: module.into(),
        env: Vec::new(),
        volume_mount: volume_mount.map(str::to_owned),
        volume_size: None,
        memory_limit: None,
        memory_reservation: None,
        instance_url: "http://x".into(),
    }
}

#[test]
fn volume_mounts_must_not_cover_the_sandbox() {
    for good in ["/data", "/var/lib/app", "/tmp/cache", "/home/app"] {
        assert!(check_spec(&spec(Some(good), "m")).is_ok(), "{good}");
    }
    for bad in [
        "/",
        "/app",
        "/app/data",
        "/venv",
        "/venv/x",
        "/tmp",
        "/usr/local",
        "data",
        "/a/../etc",
        "/proc/x",
    ] {
        assert!(check_spec(&spec(Some(bad), "m")).is_err(), "{bad}");
    }
    assert!(check_spec(&spec(None, "pkg..mod")).is_err());
    assert!(check_spec(&spec(None, "pkg.app")).is_ok());
    let mut remote = spec(None, "pkg.app");
    remote.bundle = BundleSource::Url {
        url: "https://blobs/x.qz".into(),
        token: None,
    };
    assert!(check_spec(&remote).is_err());
}

#[test]
fn every_folder_the_sandbox_mounts_is_in_cores_reserved_list() {
    let mounted = [
        sandbox::APP_DIR,
        sandbox::ENV_DIR,
        "/tmp",
        "/proc",
        "/dev",
        "/etc",
    ];
    for dir in mounted.iter().chain(sandbox::SYSTEM_DIRS) {
        assert!(
            q8s_core::manifest::reserved_mount(dir).is_some(),
            "{dir} is mounted by the sandbox but a volume could go there"
        );
    }
}
