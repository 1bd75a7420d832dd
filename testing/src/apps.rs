//! App folders and bundles for tests, built with core's own bundler from `examples/hello`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::fs::copy_dir;
use crate::repo_root;

/// `examples/hello`.
pub fn hello() -> PathBuf {
    repo_root().join("examples/hello")
}

/// Bundles the app folder `dir` into a fresh temporary folder and returns the `.qz` path.
pub fn bundle_dir(dir: &Path) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let tree = q8s_core::select::FsTree::new(dir).expect("opening the app folder");
    let target = out.path().join("bundle.qz");
    let file = std::fs::File::create(&target).unwrap();
    let (info, _) = q8s_core::bundle::build_tree(&tree, std::io::BufWriter::new(file))
        .unwrap_or_else(|e| panic!("bundling {}: {e}", dir.display()));
    let named = out.path().join(info.file_name);
    std::fs::rename(&target, &named).unwrap();
    (out, named)
}

/// `examples/hello` as a bundle, built once per test process into one shared file in
/// `scratch` (cargo's `CARGO_TARGET_TMPDIR`: a static `TempDir` is never dropped, so it would
/// leave a folder in `/tmp` per process). Every process writes the same bytes — bundles are
/// deterministic — and renames them into place, so readers never see a partial file.
pub fn hello_bundle(scratch: &Path) -> PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            let (dir, built) = bundle_dir(&hello());
            let shared = scratch.join(built.file_name().unwrap());
            let mut staged = tempfile::NamedTempFile::new_in(scratch).unwrap();
            std::io::copy(&mut std::fs::File::open(&built).unwrap(), &mut staged).unwrap();
            staged.persist(&shared).unwrap();
            drop(dir);
            shared
        })
        .clone()
}

/// A copy of `examples/hello` with `App.Version` set to `version` and `extra_manifest`
/// appended to its manifest, bundled; for tests that need several versions.
pub fn hello_variant(version: &str, extra_manifest: &str) -> (tempfile::TempDir, PathBuf) {
    variant(|manifest| {
        let manifest = manifest.replace("Version = \"0.1.0\"", &format!("Version = \"{version}\""));
        format!("{manifest}\n{extra_manifest}")
    })
}

/// A copy of `examples/hello` named `name` at `version`, with each `(from, to)` replaced in its
/// manifest text, bundled; the folder holding the `.qz` goes when the `TempDir` is dropped.
pub fn app_variant(
    name: &str,
    version: &str,
    replacements: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    variant(|manifest| {
        let mut manifest = manifest
            .replace("Name = \"ai.h2o.q8s.hello\"", &format!("Name = \"{name}\""))
            .replace("Version = \"0.1.0\"", &format!("Version = \"{version}\""));
        for (from, to) in replacements {
            assert!(manifest.contains(from), "the manifest has no {from:?}");
            manifest = manifest.replace(from, to);
        }
        manifest
    })
}

/// `examples/hello` copied, its manifest rewritten by `edit`, bundled.
fn variant(edit: impl FnOnce(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(&hello(), &app);
    let manifest = std::fs::read_to_string(app.join("q-app.toml")).unwrap();
    std::fs::write(app.join("q-app.toml"), edit(&manifest)).unwrap();
    let (out, path) = bundle_dir(&app);
    let kept = work.path().join(path.file_name().unwrap());
    std::fs::rename(&path, &kept).unwrap();
    drop(out);
    (work, kept)
}
