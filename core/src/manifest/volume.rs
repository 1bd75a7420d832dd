//! Where a volume may be mounted: an absolute, normalised path that is not a
//! folder the platform uses. [`RESERVED_VOLUME_MOUNTS`] is the one list of
//! those folders: manifest validation (hence the CLI, Python, the page and
//! the server's import) and the local runtime's last check before it starts
//! a sandbox all read it, so a manifest that validates never fails at launch
//! for its `VolumeMount`.

use crate::diagnostic::Diagnostic;

use super::codes;

/// A folder the platform uses inside every instance, where no volume may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedMount {
    /// The absolute path.
    pub path: &'static str,
    /// What it holds, for messages.
    pub holds: &'static str,
    /// Whether the folders below it are reserved too. `/tmp` is private to
    /// each instance: a volume may go below it, not replace it.
    pub below: bool,
}

const fn tree(path: &'static str, holds: &'static str) -> ReservedMount {
    ReservedMount {
        path,
        holds,
        below: true,
    }
}

/// Every folder the platform uses inside an instance: the app (`/app`), its
/// environment (`/venv` in the local runtime, `/resources` in H2O AI Cloud's
/// layout), the private `/tmp`, and the host's system folders the sandbox
/// shows. `/` itself is refused as a path of its own (`invalid-volume-mount`).
///
/// ```
/// use q8s_core::manifest::{RESERVED_VOLUME_MOUNTS, reserved_mount};
///
/// assert!(RESERVED_VOLUME_MOUNTS.iter().any(|r| r.path == "/venv"));
/// assert_eq!(reserved_mount("/usr/local/data").map(|r| r.path), Some("/usr"));
/// assert_eq!(reserved_mount("/tmp").map(|r| r.path), Some("/tmp"));
/// assert_eq!(reserved_mount("/tmp/cache"), None);
/// assert_eq!(reserved_mount("/data"), None);
/// ```
pub const RESERVED_VOLUME_MOUNTS: &[ReservedMount] = &[
    tree("/app", "the app's code"),
    tree("/venv", "the app's Python environment"),
    tree("/resources", "the app's Python environment"),
    ReservedMount {
        path: "/tmp",
        holds: "the instance's private temporary files (a volume may go below it)",
        below: false,
    },
    tree("/proc", "the kernel's process information"),
    tree("/dev", "devices"),
    tree("/sys", "the kernel's system information"),
    tree("/etc", "system configuration"),
    tree("/usr", "system programs"),
    tree("/bin", "system programs"),
    tree("/sbin", "system programs"),
    tree("/lib", "system libraries"),
    tree("/lib32", "system libraries"),
    tree("/lib64", "system libraries"),
    tree("/libx32", "system libraries"),
];

/// The reserved folder that `path` (absolute and normalised) is, or lies
/// below; `None` when a volume may go there.
pub fn reserved_mount(path: &str) -> Option<&'static ReservedMount> {
    RESERVED_VOLUME_MOUNTS.iter().find(|r| {
        path.strip_prefix(r.path)
            .is_some_and(|rest| rest.is_empty() || (r.below && rest.starts_with('/')))
    })
}

const FIELD: &str = "Runtime.VolumeMount";

/// Checks a `Runtime.VolumeMount` value: `None` when a volume may be
/// mounted there, otherwise the error (`invalid-volume-mount` or
/// `reserved-volume-mount`, at path `Runtime.VolumeMount`, with help, no
/// position).
///
/// ```
/// use q8s_core::manifest::check_volume_mount;
///
/// assert!(check_volume_mount("/data").is_none());
/// let d = check_volume_mount("/venv").unwrap();
/// assert_eq!(d.code, "reserved-volume-mount");
/// assert_eq!(d.message, "Runtime.VolumeMount \"/venv\" is a folder the platform uses");
/// assert_eq!(check_volume_mount("data/").unwrap().code, "invalid-volume-mount");
/// ```
pub fn check_volume_mount(value: &str) -> Option<Diagnostic> {
    let example = "e.g. \"/data\"";
    let invalid = |message: String, help: String| (codes::INVALID_VOLUME_MOUNT, message, help);
    let (code, message, help) = if value.is_empty() {
        invalid(
            format!("{FIELD} is empty"),
            format!("write an absolute path, {example}"),
        )
    } else if value.contains('\0') {
        invalid(
            format!("{FIELD} {value:?} contains a NUL character"),
            "remove the NUL character (`\\u0000`)".into(),
        )
    } else if !value.starts_with('/') {
        let fixed = format!("/{value}");
        let help = match normalise(&fixed) {
            Some(n) if n == fixed && reserved_mount(&n).is_none() => {
                format!("start it with `/`: {n:?}")
            }
            _ => format!("start it with `/`, {example}"),
        };
        invalid(format!("{FIELD} {value:?} is not an absolute path"), help)
    } else if value == "/" {
        invalid(
            format!("{FIELD} cannot be `/`"),
            format!("mount the volume on a folder of its own, {example}"),
        )
    } else if value
        .split('/')
        .skip(1)
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        let help = match normalise(value) {
            Some(n) if n != "/" && reserved_mount(&n).is_none() => format!("write {n:?}"),
            _ => format!("write it without `.`, `..`, `//` or a trailing `/`, {example}"),
        };
        invalid(format!("{FIELD} {value:?} is not a normalised path"), help)
    } else if let Some(reserved) = reserved_mount(value) {
        let root = reserved.path;
        let message = match value == root {
            true => format!("{FIELD} {value:?} is a folder the platform uses"),
            false => format!("{FIELD} {value:?} is inside {root}, a folder the platform uses"),
        };
        let help = format!(
            "{root} holds {}; choose a folder of its own, {example}",
            reserved.holds
        );
        (codes::RESERVED_VOLUME_MOUNT, message, help)
    } else {
        return None;
    };
    Some(Diagnostic::error(code, FIELD, message).with_help(help))
}

/// `/a/./b//c/` → `/a/b/c`; `None` when `..` climbs above `/`.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise("/a/./b//c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalise("/a/../b").as_deref(), Some("/b"));
        assert_eq!(normalise("/.."), None);
        assert_eq!(normalise("//").as_deref(), Some("/"));
    }

    #[test]
    fn reserved_folders_match_whole_segments() {
        let root = |p: &str| reserved_mount(p).map(|r| r.path);
        assert_eq!(root("/app"), Some("/app"));
        assert_eq!(root("/app/data"), Some("/app"));
        assert_eq!(root("/apps"), None);
        assert_eq!(root("/lib64/x"), Some("/lib64"));
        assert_eq!(root("/library"), None);
        assert_eq!(root("/data"), None);
        assert_eq!(root("/venv"), Some("/venv"));
        assert_eq!(root("/venv/cache"), Some("/venv"));
        assert_eq!(root("/tmp"), Some("/tmp"));
        assert_eq!(root("/tmp/cache"), None);
        assert_eq!(root("/tmpfiles"), None);
    }

    #[test]
    fn the_sandboxs_own_folders_are_all_refused() {
        for path in [
            "/",
            "/app",
            "/app/x",
            "/venv",
            "/venv/lib",
            "/tmp",
            "/proc/1",
            "/dev",
            "/sys/fs",
            "/etc",
            "/usr/local",
            "/bin",
            "/sbin",
            "/lib",
            "/lib32",
            "/lib64",
            "/libx32",
            "/resources",
            "data",
            "/a/../etc",
            "/data/",
        ] {
            assert!(check_volume_mount(path).is_some(), "{path}");
        }
        for path in [
            "/data",
            "/var/lib/app",
            "/tmp/cache",
            "/home/app",
            "/srv/venv",
        ] {
            assert_eq!(check_volume_mount(path), None, "{path}");
        }
    }

    #[test]
    fn a_relative_path_is_fixed_in_the_help_unless_the_fix_is_reserved() {
        let help = |v: &str| check_volume_mount(v).unwrap().help.unwrap();
        assert_eq!(help("data"), "start it with `/`: \"/data\"");
        assert_eq!(help("venv"), "start it with `/`, e.g. \"/data\"");
        assert_eq!(help("/data//x"), "write \"/data/x\"");
        assert_eq!(
            help("/data/../venv"),
            "write it without `.`, `..`, `//` or a trailing `/`, e.g. \"/data\""
        );
    }
}
