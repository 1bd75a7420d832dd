//! Files and mount points under a folder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file below `dir` (recursively); empty when `dir` cannot be read.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Mount points at or below `dir`, from this process's mount table (deepest last).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|point| point.starts_with(&dir))
        .collect()
}

/// Unmounts everything mounted at or below `dir`.
pub fn unmount_under(dir: &Path) {
    for point in mounts_under(dir).into_iter().rev() {
        let _ = Command::new("umount").arg(&point).status();
    }
}

/// Copies the folder `src` to `dst` (files and folders; created as needed).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        let target = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
