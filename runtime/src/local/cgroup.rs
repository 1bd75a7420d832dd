//! Cgroups for instances: one cgroup per instance (Qd and app together, as a Kubernetes pod),
//! below a parent cgroup of this runtime inside the server's own cgroup, with three
//! controllers:
//!
//! - `memory`: the hard `MemoryLimit`, and the OOM-kill count that names a crash `OOMKilled`;
//! - `pids`: at most `--max-pids` processes and threads per instance, so that a fork bomb
//!   stays inside its instance;
//! - `cpu`: the same weight for every instance, so that the CPU is shared per instance, not
//!   per process (one busy instance with many processes cannot starve the others).
//!
//! Each controller comes from the unified hierarchy (v2) when it offers it, else from its v1
//! hierarchy (where every controller has a tree of its own, so an instance's cgroup is one
//! folder per hierarchy and a process joins each). A controller that neither offers, or that
//! cannot be delegated to the server, is not enforced: the runtime says so once at start and
//! in the log of every instance that it concerns.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;

use super::admission::human;
use super::log::InstanceLog;
use super::mounts::{self, Mount};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// A cgroup controller the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }

    /// What goes unenforced without it, for log messages.
    pub(crate) fn enforces(self) -> &'static str {
        match self {
            Controller::Memory => "MemoryLimit",
            Controller::Pids => "the process limit (--max-pids)",
            Controller::Cpu => "the equal CPU share per instance",
        }
    }
}

/// What an instance's cgroup enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `MemoryLimit` in bytes.
    pub(crate) memory: Option<u64>,
    /// The most processes and threads at once; 0: no limit.
    pub(crate) pids: u64,
}

/// A folder in one hierarchy and the controllers it holds there.
#[derive(Debug)]
struct Part {
    version: Version,
    dir: PathBuf,
    controllers: Vec<Controller>,
}

/// This runtime's parent cgroup (`<server's cgroup>/q8s-<data dir hash>`) in every hierarchy
/// that holds one of its controllers.
#[derive(Debug)]
pub(crate) struct CgroupRoot {
    parts: Vec<Part>,
    /// Controllers that are not enforced, with the reason.
    missing: Vec<(Controller, String)>,
}

/// One instance's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    parts: Vec<Part>,
}

/// The `cgroup.procs` files of an instance's cgroup, open for a child to join between fork and
/// exec.
#[derive(Debug)]
pub(crate) struct Procs(Vec<File>);

impl Procs {
    /// The same files for another child.
    pub(crate) fn try_clone(&self) -> io::Result<Procs> {
        self.0
            .iter()
            .map(File::try_clone)
            .collect::<Result<_, _>>()
            .map(Procs)
    }
}

impl CgroupRoot {
    /// Finds a writable hierarchy for each controller and creates the parent cgroup `name` in
    /// the server's own cgroup there. Controllers that cannot be used are listed by
    /// [`CgroupRoot::missing`].
    pub(crate) fn create(name: &str) -> Self {
        let mounts = mounts::current();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut root = CgroupRoot {
            parts: Vec::new(),
            missing: Vec::new(),
        };
        for controller in Controller::ALL {
            if let Err(why) = root.add(controller, name, &mounts, &own) {
                root.missing.push((controller, why));
            }
        }
        root
    }

    fn add(
        &mut self,
        controller: Controller,
        name: &str,
        mounts: &[Mount],
        own: &str,
    ) -> Result<(), String> {
        let (version, mount, own_path) = locate(controller, mounts, own)?;
        // Inside a cgroup namespace the mount's root is a prefix of what /proc shows.
        let relative = own_path
            .strip_prefix(&mount.root)
            .unwrap_or(&own_path)
            .trim_start_matches('/');
        let own_dir = mount.point.join(relative);
        let dir = own_dir.join(name);
        if version == Version::V2 {
            enable(&own_dir, controller).map_err(|err| {
                format!(
                    "cannot enable the {} controller below {}: {err}",
                    controller.name(),
                    own_dir.display()
                )
            })?;
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(format!("cannot create {}: {err}", dir.display())),
        }
        if version == Version::V2 {
            enable(&dir, controller).map_err(|err| {
                format!(
                    "cannot enable {} in {}: {err}",
                    controller.name(),
                    dir.display()
                )
            })?;
        }
        match self.parts.iter_mut().find(|p| p.dir == dir) {
            // The unified hierarchy, or v1 controllers mounted together.
            Some(part) => part.controllers.push(controller),
            None => self.parts.push(Part {
                version,
                dir,
                controllers: vec![controller],
            }),
        }
        Ok(())
    }

    /// What is enforced where, for the runtime's start-up message.
    pub(crate) fn describe(&self) -> String {
        if self.parts.is_empty() {
            return "no cgroup controller".to_owned();
        }
        self.parts
            .iter()
            .map(|part| {
                let names: Vec<&str> = part.controllers.iter().map(|c| c.name()).collect();
                let version = match part.version {
                    Version::V1 => "v1",
                    Version::V2 => "v2",
                };
                format!(
                    "{} (cgroup {version} at {})",
                    names.join("+"),
                    part.dir.display()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The controllers that are not enforced, and why.
    pub(crate) fn missing(&self) -> &[(Controller, String)] {
        &self.missing
    }

    /// A fresh cgroup for `instance` with `limits` (left-overs of an earlier run are killed
    /// first); notes in `log` what is enforced and what not. `None` when no controller could
    /// be used.
    pub(crate) fn instance(
        &self,
        instance: Uuid,
        limits: &Limits,
        log: &InstanceLog,
    ) -> Option<Cgroup> {
        let leftover = self.existing(&instance.to_string());
        if !leftover.parts.is_empty() {
            leftover.remove();
        }
        let mut parts = Vec::new();
        let mut missing: Vec<(Controller, String)> = self.missing.clone();
        for part in &self.parts {
            let dir = part.dir.join(instance.to_string());
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => {
                    let why = format!("cannot create {}: {err}", dir.display());
                    missing.extend(part.controllers.iter().map(|c| (*c, why.clone())));
                    continue;
                }
            }
            parts.push(Part {
                version: part.version,
                dir,
                controllers: part.controllers.clone(),
            });
        }
        let cgroup = Cgroup { parts };
        cgroup.apply(limits, &missing, log);
        (!cgroup.parts.is_empty()).then_some(cgroup)
    }

    /// Removes this runtime's cgroups (at shutdown, when none of its processes runs).
    pub(crate) fn remove(&self) {
        self.sweep();
        for part in &self.parts {
            let _ = fs::remove_dir(&part.dir);
        }
    }

    /// Kills whatever an earlier run of this runtime left behind (the server was killed) and
    /// removes those cgroups; returns how many held processes.
    pub(crate) fn sweep(&self) -> usize {
        let mut names = BTreeSet::new();
        for part in &self.parts {
            let Ok(entries) = fs::read_dir(&part.dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    names.insert(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        let mut swept = 0;
        for name in names {
            let cgroup = self.existing(&name);
            swept += usize::from(!cgroup.pids().is_empty());
            cgroup.remove();
        }
        swept
    }

    /// The child cgroup `name` in every hierarchy where it exists.
    fn existing(&self, name: &str) -> Cgroup {
        let parts = self
            .parts
            .iter()
            .map(|part| Part {
                version: part.version,
                dir: part.dir.join(name),
                controllers: part.controllers.clone(),
            })
            .filter(|part| part.dir.is_dir())
            .collect();
        Cgroup { parts }
    }
}

impl CgroupRoot {
    /// The working set of every instance together: the parent cgroup's memory less its
    /// inactive file pages, which the kernel drops first (what kubelet and cAdvisor call the
    /// working set). `None` without the memory controller.
    pub(crate) fn working_set(&self) -> Option<u64> {
        let part = self
            .parts
            .iter()
            .find(|p| p.controllers.contains(&Controller::Memory))?;
        let (usage, inactive) = match part.version {
            Version::V2 => ("memory.current", "inactive_file"),
            Version::V1 => ("memory.usage_in_bytes", "total_inactive_file"),
        };
        let usage: u64 = fs::read_to_string(part.dir.join(usage))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let inactive = fs::read_to_string(part.dir.join("memory.stat"))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    let (name, value) = line.split_once(' ')?;
                    (name == inactive).then(|| value.trim().parse::<u64>().ok())?
                })
            })
            .unwrap_or(0);
        Some(usage.saturating_sub(inactive))
    }
}

impl Cgroup {
    fn part(&self, controller: Controller) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.controllers.contains(&controller))
    }

    /// Sets `limits` and notes in `log` what is enforced, and what not and why.
    fn apply(&self, limits: &Limits, missing: &[(Controller, String)], log: &InstanceLog) {
        let not_enforced = |controller: Controller| {
            let why = missing
                .iter()
                .find(|(c, _)| *c == controller)
                .map_or("no cgroup", |(_, why)| why.as_str());
            log.note(&format!("{} is not enforced: {why}", controller.enforces()));
        };
        if let Some(limit) = limits.memory {
            match self.part(Controller::Memory) {
                Some(part) => match part.set_memory_limit(limit) {
                    Ok(()) => log.note(&format!("MemoryLimit {}", human(limit))),
                    Err(err) => {
                        log.note(&format!("cannot set MemoryLimit {}: {err}", human(limit)))
                    }
                },
                None => not_enforced(Controller::Memory),
            }
        }
        if limits.pids > 0 {
            match self.part(Controller::Pids) {
                Some(part) => match fs::write(part.dir.join("pids.max"), limits.pids.to_string()) {
                    Ok(()) => log.note(&format!(
                        "at most {} processes and threads (pids cgroup)",
                        limits.pids
                    )),
                    Err(err) => {
                        log.note(&format!("cannot limit processes to {}: {err}", limits.pids))
                    }
                },
                None => not_enforced(Controller::Pids),
            }
        }
        match self.part(Controller::Cpu) {
            Some(part) => {
                // The default weight, written so that it is one on purpose: every instance the
                // same, whatever the parent's default.
                let (file, weight) = match part.version {
                    Version::V2 => ("cpu.weight", "100"),
                    Version::V1 => ("cpu.shares", "1024"),
                };
                match fs::write(part.dir.join(file), weight) {
                    Ok(()) => log.note(&format!(
                        "CPU shared equally with the other instances ({file} {weight})"
                    )),
                    Err(err) => log.note(&format!("cannot set {file}: {err}")),
                }
            }
            None => not_enforced(Controller::Cpu),
        }
    }

    /// How many processes the kernel has OOM-killed in this cgroup so far.
    pub(crate) fn oom_kills(&self) -> u64 {
        let Some(part) = self.part(Controller::Memory) else {
            return 0;
        };
        let (file, key) = match part.version {
            Version::V2 => ("memory.events", "oom_kill"),
            Version::V1 => ("memory.oom_control", "oom_kill"),
        };
        fs::read_to_string(part.dir.join(file))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    let (name, value) = line.split_once(' ')?;
                    (name == key).then(|| value.trim().parse().ok())?
                })
            })
            .unwrap_or(0)
    }

    /// The `cgroup.procs` files, opened for a child to write `0` into between fork and exec.
    pub(crate) fn procs_file(&self) -> io::Result<Procs> {
        self.parts
            .iter()
            .map(|part| {
                OpenOptions::new()
                    .write(true)
                    .open(part.dir.join("cgroup.procs"))
            })
            .collect::<Result<_, _>>()
            .map(Procs)
    }

    /// Every process in the cgroup (in any of its hierarchies).
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.parts.iter().flat_map(|part| part.pids()).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILLs every process still in the cgroup and removes it (retrying while the kernel
    /// finishes reaping).
    pub(crate) fn remove(&self) {
        let mut left: Vec<&Part> = self.parts.iter().collect();
        for _ in 0..50 {
            for pid in self.pids() {
                // SAFETY: plain syscall; a pid that has exited meanwhile only yields ESRCH.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            left.retain(|part| match fs::remove_dir(&part.dir) {
                Ok(()) => false,
                Err(err) => err.kind() != io::ErrorKind::NotFound,
            });
            if left.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for part in left {
            tracing::warn!(cgroup = %part.dir.display(), "cannot remove the instance cgroup");
        }
    }
}

impl Part {
    /// Sets the hard memory limit (swap included where the kernel accounts it).
    fn set_memory_limit(&self, bytes: u64) -> io::Result<()> {
        match self.version {
            Version::V2 => {
                fs::write(self.dir.join("memory.max"), bytes.to_string())?;
                // No swapping around the limit; absent without swap accounting.
                let _ = fs::write(self.dir.join("memory.swap.max"), "0");
            }
            Version::V1 => {
                fs::write(self.dir.join("memory.limit_in_bytes"), bytes.to_string())?;
                let memsw = self.dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    fs::write(memsw, bytes.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn pids(&self) -> Vec<i32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }
}

/// Moves the calling process into every cgroup whose `cgroup.procs` is open in `procs`. Runs
/// between fork and exec, so it only makes raw syscalls.
pub(crate) fn join_in_child(procs: &Procs) -> io::Result<()> {
    for file in &procs.0 {
        let fd = file.as_raw_fd();
        // SAFETY: writes two bytes from a static buffer to an open descriptor;
        // async-signal-safe.
        let written = unsafe { libc::write(fd, b"0\n".as_ptr().cast(), 2) };
        if written < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The hierarchy holding `controller` (v2 when it offers it), and the server's cgroup there.
fn locate<'m>(
    controller: Controller,
    mounts: &'m [Mount],
    own: &str,
) -> Result<(Version, &'m Mount, String), String> {
    let name = controller.name();
    let v2 = mounts.iter().find(|m| m.fstype == "cgroup2").filter(|m| {
        fs::read_to_string(m.point.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == name))
    });
    if let Some(mount) = v2 {
        let path = own_cgroup(own, None).ok_or("no unified cgroup in /proc/self/cgroup")?;
        return Ok((Version::V2, mount, path));
    }
    let mount = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == name))
        .ok_or_else(|| format!("no {name} cgroup controller is mounted"))?;
    let path = own_cgroup(own, Some(name))
        .ok_or_else(|| format!("no {name} cgroup in /proc/self/cgroup"))?;
    Ok((Version::V1, mount, path))
}

fn enable(dir: &Path, controller: Controller) -> io::Result<()> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control)?;
    if enabled.split_whitespace().any(|c| c == controller.name()) {
        return Ok(());
    }
    fs::write(control, format!("+{}", controller.name()))
}

/// The server's cgroup path in the hierarchy with `controller` (v1), or the unified one.
fn own_cgroup(proc_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => id == "0" && controllers.is_empty(),
            Some(name) => controllers.split(',').any(|c| c == name),
        };
        matches.then(|| path.to_owned())
    })
}

#[cfg(test)]
mod tests;
