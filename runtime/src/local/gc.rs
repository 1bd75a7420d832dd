//! Garbage collection of the preparer's caches: extracted bundles (`apps/<sha256>/`) that no
//! app and no instance uses any more, and environments (`envs/<key>/`) that no remaining
//! bundle maps to.
//!
//! Which bundles the apps use is the server's knowledge (its store): it names the unused ones.
//! The runtime adds its own: a bundle that one of its instances runs or prepares stays,
//! whatever the server says. Which environment a bundle uses is recorded beside it
//! (`apps/<sha256>.env`), under the environment's lock, every time an instance gets that
//! environment; an environment no record names is unused. Every removal holds the preparer's
//! lock of what it removes and checks again under it, so it never races with a start preparing
//! the same bundle or environment (that start waits, then extracts or builds it anew). What
//! goes is first renamed to the temporary name of an unfinished extraction or build, which the
//! next start removes if a crash interrupts the deletion.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::prepare::Preparer;
use crate::Collected;

/// Takes out of use the bundles in `unused` that no instance `runs`, then the environments no
/// remaining bundle records; returns what it took and the folders to delete with
/// [`empty_trash`] (renamed already, so slow deletion holds no lock).
pub(crate) fn collect(
    preparer: &Preparer,
    unused: &[String],
    runs: impl Fn(&str) -> bool,
) -> (Collected, Vec<PathBuf>) {
    let (apps_dir, envs_dir) = (preparer.apps_dir(), preparer.envs_dir());
    let mut collected = Collected::default();
    let mut trash = Vec::new();
    for sha256 in unused {
        let app_dir = apps_dir.join(sha256);
        // Under the extraction lock: a start that comes later has registered its instance
        // before it waits for this lock, and then extracts again.
        let Some(_extracting) = preparer.try_lock_bundle(sha256) else {
            continue;
        };
        if !app_dir.is_dir() || runs(sha256) {
            continue;
        }
        let bin = apps_dir.join(format!(".qz-extract-gc-{}", Uuid::new_v4().simple()));
        match discard_bundle(&app_dir, &bin) {
            Ok(()) => {
                trash.push(bin);
                collected.bundles += 1;
            }
            Err(err) => tracing::warn!(bundle = %sha256, "cannot remove: {err}"),
        }
    }
    let used = recorded_environments(apps_dir);
    let candidates = environments(envs_dir)
        .into_iter()
        .filter(|key| !used.contains(key));
    // Under the build locks, the records are read again: a start records the environment it
    // gets under that lock.
    let locked: Vec<_> = candidates
        .filter_map(|key| Some((preparer.try_lock_environment(&key)?, key)))
        .collect();
    let used = recorded_environments(apps_dir);
    for (_building, key) in locked.iter().filter(|(_, key)| !used.contains(key)) {
        let bin = envs_dir.join(format!(".tmp-gc-{}", Uuid::new_v4().simple()));
        match fs::rename(envs_dir.join(key), &bin) {
            Ok(()) => {
                trash.push(bin);
                collected.environments += 1;
            }
            Err(err) => tracing::warn!(environment = %key, "cannot remove: {err}"),
        }
    }
    (collected, trash)
}

/// The record of the environment a bundle uses, beside the bundle's folder.
fn record_path(app_dir: &Path) -> PathBuf {
    app_dir.with_extension("env")
}

/// Records that the bundle extracted at `app_dir` uses environment `key` (call under the
/// environment's lock, before the environment is used).
pub(crate) fn record_environment(app_dir: &Path, key: &str) -> io::Result<()> {
    let record = record_path(app_dir);
    if fs::read_to_string(&record).is_ok_and(|k| k == key) {
        return Ok(());
    }
    let staged = record.with_extension(format!("env.{}", uuid::Uuid::new_v4().simple()));
    fs::write(&staged, key)?;
    fs::rename(&staged, &record).inspect_err(|_| {
        let _ = fs::remove_file(&staged);
    })
}

/// The sha256s of the bundles extracted in `apps_dir`.
pub(crate) fn extracted(apps_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(apps_dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    found.sort();
    found
}

/// The environments that the records in `apps_dir` name.
fn recorded_environments(apps_dir: &Path) -> HashSet<String> {
    extracted(apps_dir)
        .into_iter()
        .filter_map(|sha| fs::read_to_string(record_path(&apps_dir.join(sha))).ok())
        .map(|key| key.trim().to_owned())
        .collect()
}

/// The environments built in `envs_dir`.
fn environments(envs_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(envs_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

/// Takes the bundle at `app_dir` and its record out of use: renames it to `trash` (a name the
/// next start removes).
fn discard_bundle(app_dir: &Path, trash: &Path) -> io::Result<()> {
    fs::rename(app_dir, trash)?;
    match fs::remove_file(record_path(app_dir)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Deletes what was discarded.
pub(crate) fn empty_trash(trash: &[PathBuf]) {
    for dir in trash {
        if let Err(err) = fs::remove_dir_all(dir) {
            tracing::warn!(path = %dir.display(), "cannot remove: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_name_the_environments_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path();
        let (one, two) = ("a".repeat(64), "b".repeat(64));
        for sha in [&one, &two] {
            fs::create_dir(apps.join(sha)).unwrap();
        }
        fs::create_dir(apps.join(".qz-extract-x")).unwrap();
        assert_eq!(extracted(apps), [one.clone(), two.clone()]);
        record_environment(&apps.join(&one), "k1").unwrap();
        record_environment(&apps.join(&two), "k2").unwrap();
        record_environment(&apps.join(&two), "k3").unwrap();
        assert_eq!(
            recorded_environments(apps),
            HashSet::from(["k1".to_owned(), "k3".to_owned()])
        );
        let trash = apps.join(".qz-extract-gc");
        discard_bundle(&apps.join(&one), &trash).unwrap();
        assert_eq!(extracted(apps), [two]);
        assert!(!apps.join(format!("{one}.env")).exists());
        assert_eq!(
            recorded_environments(apps),
            HashSet::from(["k3".to_owned()])
        );
        empty_trash(std::slice::from_ref(&trash));
        assert!(!trash.exists());
    }

    #[test]
    fn collects_only_what_nothing_uses_or_prepares() {
        let dir = tempfile::tempdir().unwrap();
        let config = super::super::LocalRuntimeConfig::new(dir.path());
        let preparer = Preparer::new(dir.path(), &config, None);
        let (apps, envs) = (dir.path().join("apps"), dir.path().join("envs"));
        let [gone, kept, running, preparing] = ["a", "b", "c", "d"].map(|c| c.repeat(64));
        for (sha, env) in [
            (&gone, Some("k1")),
            (&kept, Some("k2")),
            (&running, Some("k2")),
            (&preparing, None),
        ] {
            fs::create_dir_all(apps.join(sha)).unwrap();
            if let Some(env) = env {
                record_environment(&apps.join(sha), env).unwrap();
            }
        }
        for key in ["k1", "k2", "k3", "k4"] {
            fs::create_dir_all(envs.join(key).join("bin")).unwrap();
        }
        // A start holds the extraction of one bundle and the build of one environment.
        let _extracting = preparer.try_lock_bundle(&preparing).unwrap();
        let _building = preparer.try_lock_environment("k4").unwrap();

        let unused = [gone.clone(), running.clone(), preparing.clone()];
        let (collected, trash) = collect(&preparer, &unused, |sha| sha == running);
        empty_trash(&trash);
        assert_eq!(
            collected,
            Collected {
                bundles: 1,
                environments: 2
            }
        );
        assert_eq!(extracted(&apps), [kept, running, preparing]);
        let mut left = environments(&envs);
        left.sort();
        assert_eq!(left, ["k2", "k4"]);
        assert!(
            fs::read_dir(&apps)
                .unwrap()
                .chain(fs::read_dir(&envs).unwrap())
                .all(|e| !e.unwrap().file_name().to_string_lossy().contains("gc-")),
            "the trash is emptied"
        );
    }
}
