//! Memory cgroups for instances: one cgroup per instance (Qd and app together, as a Kubernetes
//! pod), below a parent cgroup of this runtime inside the server's own cgroup. Works with the
//! unified hierarchy (v2) where it offers the memory controller, else with the v1 memory
//! hierarchy.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// This runtime's parent cgroup (`<server's cgroup>/q8s-<data dir hash>`).
#[derive(Debug)]
pub(crate) struct CgroupRoot {
    version: Version,
    dir: PathBuf,
}

/// One instance's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    version: Version,
    dir: PathBuf,
}

impl CgroupRoot {
    /// Finds a writable memory hierarchy and creates the parent cgroup `name` in the server's
    /// own cgroup. `Err` says why memory limits cannot be enforced here.
    pub(crate) fn create(name: &str) -> Result<Self, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|err| format!("cannot read /proc/self/mountinfo: {err}"))?;
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|err| format!("cannot read /proc/self/cgroup: {err}"))?;
        let mounts = parse_mounts(&mountinfo);
        let v2 = mounts.iter().find(|m| m.fstype == "cgroup2").filter(|m| {
            fs::read_to_string(m.point.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
        });
        let (version, mount, own_path) = if let Some(mount) = v2 {
            let path = own_cgroup(&own, None).ok_or("no unified cgroup in /proc/self/cgroup")?;
            (Version::V2, mount, path)
        } else {
            let mount = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "memory"))
                .ok_or("no memory cgroup controller is mounted")?;
            let path =
                own_cgroup(&own, Some("memory")).ok_or("no memory cgroup in /proc/self/cgroup")?;
            (Version::V1, mount, path)
        };
        // Inside a cgroup namespace the mount's root is a prefix of what /proc shows.
        let relative = own_path
            .strip_prefix(&mount.root)
            .unwrap_or(&own_path)
            .trim_start_matches('/');
        let own_dir = mount.point.join(relative);
        if version == Version::V2 {
            enable_memory(&own_dir).map_err(|err| {
                format!(
                    "cannot enable the memory controller below {}: {err}",
                    own_dir.display()
                )
            })?;
        }
        let dir = own_dir.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(format!("cannot create {}: {err}", dir.display())),
        }
        if version == Version::V2 {
            enable_memory(&dir)
                .map_err(|err| format!("cannot enable memory in {}: {err}", dir.display()))?;
        }
        Ok(CgroupRoot { version, dir })
    }

    /// `v1` or `v2` and the parent directory, for the runtime's start-up message.
    pub(crate) fn describe(&self) -> String {
        let version = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!("cgroup {version} at {}", self.dir.display())
    }

    /// A fresh cgroup for `instance` (left-overs of an earlier run are killed first).
    pub(crate) fn instance(&self, instance: Uuid) -> io::Result<Cgroup> {
        let cgroup = Cgroup {
            version: self.version,
            dir: self.dir.join(instance.to_string()),
        };
        if cgroup.dir.exists() {
            cgroup.remove();
        }
        match fs::create_dir(&cgroup.dir) {
            Ok(()) => Ok(cgroup),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(cgroup),
            Err(err) => Err(err),
        }
    }

    /// Removes this runtime's cgroups (at shutdown, when none of its processes runs).
    pub(crate) fn remove(&self) {
        self.sweep();
        let _ = fs::remove_dir(&self.dir);
    }

    /// Kills whatever an earlier run of this runtime left behind (the server was killed) and
    /// removes those cgroups.
    pub(crate) fn sweep(&self) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let cgroup = Cgroup {
                    version: self.version,
                    dir: entry.path(),
                };
                swept += usize::from(!cgroup.pids().is_empty());
                cgroup.remove();
            }
        }
        swept
    }
}

impl Cgroup {
    /// Sets the hard memory limit (swap included where the kernel accounts it).
    pub(crate) fn set_memory_limit(&self, bytes: u64) -> io::Result<()> {
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

    /// How many processes the kernel has OOM-killed in this cgroup so far.
    pub(crate) fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            Version::V2 => ("memory.events", "oom_kill"),
            Version::V1 => ("memory.oom_control", "oom_kill"),
        };
        fs::read_to_string(self.dir.join(file))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    let (name, value) = line.split_once(' ')?;
                    (name == key).then(|| value.trim().parse().ok())?
                })
            })
            .unwrap_or(0)
    }

    /// The `cgroup.procs` file, opened for a child to write `0` into between fork and exec.
    pub(crate) fn procs_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .open(self.dir.join("cgroup.procs"))
    }

    /// Every process in the cgroup.
    pub(crate) fn pids(&self) -> Vec<i32> {
        fs::read_to_string(self.dir.join("cgroup.procs"))
            .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// SIGKILLs every process still in the cgroup and removes it (retrying while the kernel
    /// finishes reaping).
    pub(crate) fn remove(&self) {
        for _ in 0..50 {
            let pids = self.pids();
            for pid in &pids {
                // SAFETY: plain syscall; a pid that has exited meanwhile only yields ESRCH.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        tracing::warn!(cgroup = %self.dir.display(), "cannot remove the instance cgroup");
    }
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is open as `fd`. Runs between
/// fork and exec, so it only makes a raw syscall.
pub(crate) fn join_in_child(procs: &File) -> io::Result<()> {
    let fd = procs.as_raw_fd();
    // SAFETY: writes two bytes from a static buffer to an open descriptor; async-signal-safe.
    let written = unsafe { libc::write(fd, b"0\n".as_ptr().cast(), 2) };
    if written < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn enable_memory(dir: &Path) -> io::Result<()> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control)?;
    if enabled.split_whitespace().any(|c| c == "memory") {
        return Ok(());
    }
    fs::write(control, "+memory")
}

struct Mount {
    root: String,
    point: PathBuf,
    fstype: String,
    options: String,
}

fn parse_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            Some(Mount {
                root: unescape(fields.get(3)?),
                point: PathBuf::from(unescape(fields.get(4)?)),
                fstype: fstype.to_owned(),
                options: right.next().unwrap_or("").to_owned(),
            })
        })
        .collect()
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

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(byte) = u8::from_str_radix(&code, 8) {
                out.push(char::from(byte));
                continue;
            }
            out.push('\\');
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_own_cgroup_per_hierarchy() {
        let text = "4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/user.slice/a b\n";
        assert_eq!(
            own_cgroup(text, Some("memory")).as_deref(),
            Some("/process_api/abc")
        );
        assert_eq!(own_cgroup(text, Some("cpuacct")).as_deref(), Some("/x"));
        assert_eq!(own_cgroup(text, None).as_deref(), Some("/user.slice/a b"));
        assert_eq!(own_cgroup("4:memory:/a\n", None), None);
    }

    #[test]
    fn parses_cgroup_mounts() {
        let text = "34 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    40 31 0:37 /sub /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw\n";
        let mounts = parse_mounts(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mounts[0].options, "rw,memory");
        assert_eq!(mounts[1].fstype, "cgroup2");
        assert_eq!(mounts[1].root, "/sub");
        assert_eq!(mounts[1].point, Path::new("/sys/fs/cgroup/uni fied"));
    }
}
