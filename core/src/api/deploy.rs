//! Deploy bundles: `bundle deploy` imports an app folder under a generated version
//! ([`crate::bundle::deploy_version`]) so that deploying again never collides. The folder is
//! left untouched: the bundle is built from a view of it whose manifest has the new version.

use std::io;

use crate::bundle::deploy_version;
use crate::manifest::locate_manifest;
use crate::select::{EntryKind, Tree, TreeEntry};

/// Rewrites `App.Version` of a manifest to its deploy version at `unix_seconds`, keeping the
/// rest of the text as written. Returns the new text and version, or `None` when the text has
/// no string `App.Version` to rewrite (validation then says what is wrong).
///
/// ```
/// let text = "[App]\nName = \"a\"\nVersion = \"0.1.2\"  # bump me\n";
/// let (new, version) = q8s_core::api::deploy_manifest(text, 1_602_570_483).unwrap();
/// assert_eq!(version, "0.1.2-20201013062803");
/// assert_eq!(new, "[App]\nName = \"a\"\nVersion = \"0.1.2-20201013062803\"  # bump me\n");
/// ```
pub fn deploy_manifest(text: &str, unix_seconds: i64) -> Option<(String, String)> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    let value = doc.get_mut("App")?.get_mut("Version")?.as_value_mut()?;
    let version = deploy_version(value.as_str()?, unix_seconds);
    let decor = value.decor().clone();
    *value = toml_edit::Value::from(version.as_str());
    *value.decor_mut() = decor;
    Some((doc.to_string(), version))
}

/// An app folder as a deploy sees it: the same files, but the manifest carries the deploy
/// version. Build it like any [`Tree`] (`crate::bundle::build_tree`).
pub struct DeployTree<'a> {
    inner: &'a dyn Tree,
    manifest: Option<(String, Vec<u8>)>,
    version: Option<String>,
}

impl<'a> DeployTree<'a> {
    /// A view of `inner` whose manifest's version is the deploy version at `unix_seconds`.
    /// A folder without a readable manifest is passed through unchanged (building it then
    /// reports the problem).
    pub fn new(inner: &'a dyn Tree, unix_seconds: i64) -> io::Result<DeployTree<'a>> {
        let root = inner.list("")?;
        let files: Vec<&str> = root
            .iter()
            .filter(|e: &&TreeEntry| matches!(e.kind, EntryKind::File { .. }))
            .map(|e| e.name.as_str())
            .collect();
        let mut tree = DeployTree {
            inner,
            manifest: None,
            version: None,
        };
        let (Some(name), _) = locate_manifest(&files) else {
            return Ok(tree);
        };
        let bytes = inner.read(name)?;
        if let Some((text, version)) = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| deploy_manifest(text, unix_seconds))
        {
            tree.manifest = Some((name.to_owned(), text.into_bytes()));
            tree.version = Some(version);
        }
        Ok(tree)
    }

    /// The deploy version, when the manifest had a version to rewrite.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

impl Tree for DeployTree<'_> {
    fn list(&self, dir: &str) -> io::Result<Vec<TreeEntry>> {
        self.inner.list(dir)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        match &self.manifest {
            Some((name, bytes)) if name == path => Ok(bytes.clone()),
            _ => self.inner.read(path),
        }
    }

    fn is_file(&self, path: &str) -> bool {
        self.inner.is_file(path)
    }
}

/// Builds the deploy bundle of the app folder `dir` into the folder `out_dir`, as
/// `<Name>.<deploy version>.qz`; the file appears only when complete.
#[cfg(not(target_family = "wasm"))]
pub fn build_deploy_bundle(
    dir: &std::path::Path,
    out_dir: &std::path::Path,
    unix_seconds: i64,
) -> Result<(crate::bundle::BundleInfo, std::path::PathBuf), crate::bundle::BundleError> {
    use crate::bundle::BundleError;
    let io_error = |context: String| move |source| BundleError::Io { context, source };
    let tree =
        crate::select::FsTree::new(dir).map_err(io_error(format!("opening {}", dir.display())))?;
    let tree = DeployTree::new(&tree, unix_seconds)
        .map_err(io_error(format!("reading {}", dir.display())))?;
    let temp = tempfile::Builder::new()
        .prefix(".q8s-deploy-")
        .suffix(".tmp")
        .tempfile_in(out_dir)
        .map_err(io_error(format!(
            "creating a file in {}",
            out_dir.display()
        )))?;
    let out = io::BufWriter::with_capacity(1 << 20, temp.as_file());
    let (info, out) = crate::bundle::build_tree(&tree, out)?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_error("writing the bundle".into()))?;
    let target = out_dir.join(&info.file_name);
    temp.persist(&target).map_err(|e| BundleError::Io {
        context: format!("moving the bundle to {}", target.display()),
        source: e.error,
    })?;
    Ok((info, target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::MemTree;

    fn app(manifest: &str) -> MemTree {
        let mut tree = MemTree::new();
        tree.add("q-app.toml", manifest.as_bytes().to_vec(), false)
            .unwrap();
        tree.add("main.py", b"print(1)\n".to_vec(), false).unwrap();
        tree.add("requirements.txt", Vec::new(), false).unwrap();
        tree
    }

    #[test]
    fn inline_tables_and_prereleases_are_rewritten() {
        let (text, version) =
            deploy_manifest("App = { Name = \"a\", Version = \"1.0.0-rc.1\" }\n", 0).unwrap();
        assert_eq!(version, "1.0.0-rc.1.19700101000000");
        assert!(
            text.contains("Version = \"1.0.0-rc.1.19700101000000\""),
            "{text}"
        );
        assert_eq!(deploy_manifest("[App]\nVersion = 3\n", 0), None);
        assert_eq!(deploy_manifest("[App\n", 0), None);
    }

    #[test]
    fn the_bundle_of_a_deploy_tree_has_the_deploy_version() {
        let tree = app("[App]\nName = \"a\"\nVersion = \"0.1.2\"\n[Runtime]\nModule = \"main\"\n");
        let deploy = DeployTree::new(&tree, 1_602_570_483).unwrap();
        assert_eq!(deploy.version(), Some("0.1.2-20201013062803"));
        let (info, bytes) = crate::bundle::build_tree(&deploy, Vec::new()).unwrap();
        assert_eq!(info.version, "0.1.2-20201013062803");
        assert_eq!(info.file_name, "a.0.1.2-20201013062803.qz");
        let report = crate::bundle::inspect_archive(
            std::io::Cursor::new(bytes),
            crate::archive::Limits::default(),
        )
        .unwrap();
        assert_eq!(
            report.content.manifest.unwrap().app.version,
            "0.1.2-20201013062803"
        );
        // Other files are untouched.
        assert_eq!(deploy.read("main.py").unwrap(), b"print(1)\n");
    }

    #[test]
    fn a_folder_without_manifest_still_fails_as_a_bundle_does() {
        let mut tree = MemTree::new();
        tree.add("main.py", Vec::new(), false).unwrap();
        let deploy = DeployTree::new(&tree, 0).unwrap();
        assert_eq!(deploy.version(), None);
        let err = crate::bundle::build_tree(&deploy, Vec::new()).unwrap_err();
        assert_eq!(err.code(), "invalid-bundle");
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn deploy_bundles_are_written_whole_into_the_folder() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
        let out = tempfile::tempdir().unwrap();
        let (info, path) = build_deploy_bundle(&repo, out.path(), 1_602_570_483).unwrap();
        assert_eq!(info.version, "0.1.0-20201013062803");
        assert_eq!(
            path,
            out.path().join("ai.h2o.q8s.hello.0.1.0-20201013062803.qz")
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), info.size);
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
    }
}
