use super::*;

#[test]
fn finds_the_own_cgroup_per_hierarchy() {
    let text = "4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/user.slice/a b\n";
    assert_eq!(
        own_cgroup(text, Some("memory")).as_deref(),
        Some("/process_api/abc")
    );
    assert_eq!(own_cgroup(text, Some("cpu")).as_deref(), Some("/x"));
    assert_eq!(own_cgroup(text, Some("cpuacct")).as_deref(), Some("/x"));
    assert_eq!(own_cgroup(text, None).as_deref(), Some("/user.slice/a b"));
    assert_eq!(own_cgroup("4:memory:/a\n", None), None);
}

#[test]
fn v1_controllers_come_from_their_own_mounts() {
    let mounts = mounts::parse(
        "34 31 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
         35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
    );
    let own = "4:memory:/a\n2:cpu,cpuacct:/\n";
    let (version, mount, path) = locate(Controller::Cpu, &mounts, own).unwrap();
    assert_eq!(version, Version::V1);
    assert_eq!(mount.point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    assert_eq!(path, "/");
    let (_, mount, path) = locate(Controller::Memory, &mounts, own).unwrap();
    assert_eq!(mount.point, Path::new("/sys/fs/cgroup/memory"));
    assert_eq!(path, "/a");
    let why = locate(Controller::Pids, &mounts, own).unwrap_err();
    assert_eq!(why, "no pids cgroup controller is mounted");
}

/// A cgroup tree made of plain folders and files, mounted (as far as the code can tell)
/// at `root` with `version`, offering every controller; returns the runtime's root and the
/// log of one instance created in it with `limits`.
fn fake_tree(root: &Path, version: Version, limits: &Limits) -> (CgroupRoot, String) {
    let line = |point: &Path, fstype: &str, options: &str| {
        format!(
            "1 0 0:1 / {} rw - {fstype} {fstype} {options}\n",
            point.display()
        )
    };
    let (text, own) = match version {
        Version::V2 => {
            fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
            // The kernel gives every new cgroup folder this file.
            for dir in [root.to_owned(), root.join("q8s-test")] {
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
            }
            (line(root, "cgroup2", "rw"), "0::/\n".to_owned())
        }
        Version::V1 => {
            let mut text = String::new();
            for name in ["memory", "pids", "cpu,cpuacct"] {
                fs::create_dir(root.join(name)).unwrap();
                text += &line(&root.join(name), "cgroup", &format!("rw,{name}"));
            }
            (text, "3:memory:/\n2:pids:/\n1:cpu,cpuacct:/\n".to_owned())
        }
    };
    let mounts = mounts::parse(&text);
    let mut cgroups = CgroupRoot {
        parts: Vec::new(),
        missing: Vec::new(),
    };
    for controller in Controller::ALL {
        cgroups.add(controller, "q8s-test", &mounts, &own).unwrap();
    }
    let log_path = root.join("instance.log");
    let log = InstanceLog::new(log_path.clone(), 1 << 20);
    log.open(Vec::new());
    let id = Uuid::nil();
    assert!(cgroups.instance(id, limits, &log).is_some());
    log.close();
    (cgroups, fs::read_to_string(log_path).unwrap())
}

#[test]
fn v2_limits_go_to_the_unified_files() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory: Some(64 << 20),
        pids: 100,
    };
    let (cgroups, log) = fake_tree(dir.path(), Version::V2, &limits);
    assert_eq!(cgroups.parts.len(), 1, "one folder holds every controller");
    assert_eq!(
        fs::read_to_string(dir.path().join("q8s-test/cgroup.subtree_control")).unwrap(),
        "+cpu",
        "each controller is enabled for the instances (the last one shows here)"
    );
    let instance = dir.path().join("q8s-test").join(Uuid::nil().to_string());
    let read = |file: &str| fs::read_to_string(instance.join(file)).unwrap();
    assert_eq!(read("memory.max"), (64u64 << 20).to_string());
    assert_eq!(read("pids.max"), "100");
    assert_eq!(read("cpu.weight"), "100");
    assert!(log.contains("MemoryLimit 64Mi"), "{log}");
    assert!(log.contains("at most 100 processes"), "{log}");
    assert!(log.contains("cpu.weight 100"), "{log}");
}

#[test]
fn v1_limits_go_to_each_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        memory: Some(64 << 20),
        pids: 100,
    };
    let (cgroups, log) = fake_tree(dir.path(), Version::V1, &limits);
    assert_eq!(cgroups.parts.len(), 3);
    let instance = |hierarchy: &str, file: &str| {
        let path = dir.path().join(hierarchy).join("q8s-test");
        fs::read_to_string(path.join(Uuid::nil().to_string()).join(file)).unwrap()
    };
    assert_eq!(
        instance("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(instance("pids", "pids.max"), "100");
    assert_eq!(instance("cpu,cpuacct", "cpu.shares"), "1024");
    assert!(log.contains("cpu.shares 1024"), "{log}");
}

#[test]
fn a_missing_controller_is_named_in_the_instance_log() {
    let dir = tempfile::tempdir().unwrap();
    let cgroups = CgroupRoot {
        parts: Vec::new(),
        missing: vec![(
            Controller::Pids,
            "no pids cgroup controller is mounted".into(),
        )],
    };
    let log_path = dir.path().join("i.log");
    let log = InstanceLog::new(log_path.clone(), 1 << 20);
    log.open(Vec::new());
    let limits = Limits {
        memory: None,
        pids: 1024,
    };
    assert!(cgroups.instance(Uuid::nil(), &limits, &log).is_none());
    log.close();
    let text = fs::read_to_string(log_path).unwrap();
    assert!(
        text.contains(
            "the process limit (--max-pids) is not enforced: no pids cgroup controller is mounted"
        ),
        "{text}"
    );
    assert!(
        text.contains("the equal CPU share per instance is not enforced"),
        "{text}"
    );
}
