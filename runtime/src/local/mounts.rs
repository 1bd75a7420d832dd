//! This process's mount table (`/proc/self/mountinfo`): where the cgroup hierarchies are, and
//! whether a volume is mounted.

use std::fs;
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug)]
pub(crate) struct Mount {
    /// The mounted folder of the file system (inside a cgroup namespace, a prefix of what
    /// `/proc/self/cgroup` shows).
    pub(crate) root: String,
    pub(crate) point: PathBuf,
    pub(crate) fstype: String,
    /// Super-block options, e.g. `rw,memory` for a v1 cgroup hierarchy.
    pub(crate) options: String,
}

/// The current mount table (empty when it cannot be read).
pub(crate) fn current() -> Vec<Mount> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Whether something is mounted at exactly `point`.
pub(crate) fn is_mount_point(point: &Path) -> bool {
    current().iter().any(|m| m.point == point)
}

pub(crate) fn parse(mountinfo: &str) -> Vec<Mount> {
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
    fn parses_mount_lines() {
        let text = "34 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    40 31 0:37 /sub /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw\n";
        let mounts = parse(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mounts[0].options, "rw,memory");
        assert_eq!(mounts[1].fstype, "cgroup2");
        assert_eq!(mounts[1].root, "/sub");
        assert_eq!(mounts[1].point, Path::new("/sys/fs/cgroup/uni fied"));
    }
}
