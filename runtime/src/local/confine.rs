//! Who sandboxed processes are on the host, and what a sandbox's process does between fork and
//! exec to get there.
//!
//! When the server runs as root, every sandboxed process (Qd, the app, the environment's
//! install) and the helpers around them (the network namespace's holder, slirp4netns) run under
//! an unprivileged host uid — the *sandbox user*, `61000:61000` unless configured — never as
//! root or as the server's user. bubblewrap then runs unprivileged too and maps that uid to
//! 1000 inside. The sandbox user owns what sandboxes may write (environments being built,
//! per-owner package caches, volumes) and can only read what the server makes readable to
//! others; the data directory itself lets it pass (`0711`) without listing it, and every private
//! file in it (database, tokens, bundles, logs) is `0600`/`0700`.
//!
//! A server that does not run as root cannot switch users: its sandboxes run as its own user,
//! share its network, and it says so at start.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A host uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostUser {
    /// The uid.
    pub uid: u32,
    /// The gid.
    pub gid: u32,
}

impl HostUser {
    /// The default sandbox user, `61000:61000`: a uid no Debian package or login user gets
    /// (Debian leaves 60000–64999 to the administrator), so nothing else on the host runs as it.
    pub const DEFAULT: HostUser = HostUser {
        uid: 61000,
        gid: 61000,
    };

    /// Parses `UID[:GID]` (numbers).
    pub fn parse(text: &str) -> Result<HostUser, String> {
        let (uid, gid) = text.split_once(':').unwrap_or((text, text));
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{text}` is not UID[:GID] (numbers)"))
        };
        let user = HostUser {
            uid: number(uid)?,
            gid: number(gid)?,
        };
        if user.uid == 0 || user.gid == 0 {
            return Err("the sandbox user cannot be root (0)".into());
        }
        Ok(user)
    }

    /// Drops supplementary groups and becomes this user, for good.
    ///
    /// # Safety
    /// Raw syscalls only: callable between fork and exec.
    pub(crate) unsafe fn become_it(&self) -> io::Result<()> {
        // SAFETY: plain syscalls; each result is checked.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(self.gid, self.gid, self.gid) != 0
                || libc::setresuid(self.uid, self.uid, self.uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Makes `path` (a folder or file the sandboxes write) this user's.
    pub(crate) fn own(&self, path: &Path) -> io::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
    }
}

/// Whether the server runs as root (and so can confine sandboxes as described above).
pub(crate) fn is_root() -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::geteuid() == 0 }
}

/// Whether an unprivileged user other than the file's owner can reach `path`: every folder on
/// the way lets others pass, and the file lets others read it (and run it, for `executable`).
pub(crate) fn reachable_by_others(path: &Path, executable: bool) -> bool {
    let Ok(path) = fs::canonicalize(path) else {
        return false;
    };
    let Ok(meta) = fs::metadata(&path) else {
        return false;
    };
    let need = if executable { 0o005 } else { 0o004 };
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        if mode & 0o005 != 0o005 {
            return false;
        }
    } else if mode & need != need {
        return false;
    }
    path.ancestors()
        .skip(1)
        .all(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// The first folder above `path` (an absolute path, which need not exist yet) that does not let
/// others pass, if any.
pub(crate) fn closed_ancestor(path: &Path) -> Option<std::path::PathBuf> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .find_map(|dir| match fs::metadata(dir) {
            Ok(meta) if meta.permissions().mode() & 0o001 == 0 => Some(dir.to_owned()),
            _ => None,
        })
}

/// Sets `dir`'s mode (creating it when missing).
pub(crate) fn dir_with_mode(dir: &Path, mode: u32) -> io::Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_users_are_numbers_and_never_root() {
        assert_eq!(
            HostUser::parse("61000").unwrap(),
            HostUser {
                uid: 61000,
                gid: 61000
            }
        );
        assert_eq!(
            HostUser::parse("5000:6000").unwrap(),
            HostUser {
                uid: 5000,
                gid: 6000
            }
        );
        assert!(HostUser::parse("0").is_err());
        assert!(HostUser::parse("61000:0").is_err());
        assert!(HostUser::parse("q8s-app").is_err());
    }

    #[test]
    fn reachability_follows_the_modes_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a");
        fs::create_dir(&inner).unwrap();
        let file = inner.join("f");
        fs::write(&file, "x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(reachable_by_others(&file, false));
        assert!(!reachable_by_others(&file, true), "not executable");
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!reachable_by_others(&file, false));
        assert_eq!(closed_ancestor(&inner.join("data")), Some(inner.clone()));
        assert_eq!(closed_ancestor(&file), Some(inner.clone()));
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(closed_ancestor(&inner.join("data")), None);
    }
}
