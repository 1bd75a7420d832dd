//! The three reports every surface gives, each one struct serialized as it is: validating
//! ([`ValidationReport`]), checking a folder without writing it ([`CheckReport`]) and reading
//! a `.qz` ([`InspectReport`]). The CLI prints them with `-o json`, Python reads them into its
//! classes, the page gets them as objects; `valid` is always [`is_valid`].

use serde::{Deserialize, Serialize};

use crate::archive::ArchiveEntry;
use crate::diagnostic::{Diagnostic, has_errors};
use crate::manifest::{Manifest, ManifestReport};
use crate::select::{Decision, SelectedFile, Selection};

use super::{ArchiveReport, ContentReport};

/// Whether a manifest and its diagnostics make a valid bundle: the manifest was read and no
/// diagnostic is an error (warnings and notes allowed). The one meaning of `valid` in every
/// report.
///
/// ```
/// use q8s_core::bundle::is_valid;
/// assert!(!is_valid(None, &[]));
/// ```
pub fn is_valid(manifest: Option<&Manifest>, diagnostics: &[Diagnostic]) -> bool {
    manifest.is_some() && !has_errors(diagnostics)
}

/// What validating a manifest, a folder or a `.qz` found: `q8s-cli bundle validate -o json`,
/// the page's `validateManifest`, Python's `validate`.
///
/// JSON: `{"valid", "manifest", "diagnostics"}`; `manifest` is `null` when not valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// [`is_valid`].
    pub valid: bool,
    /// The manifest, when valid.
    pub manifest: Option<Manifest>,
    /// Every finding, warnings and notes too.
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationReport {
    /// The report of a manifest and its diagnostics; the manifest is dropped when a
    /// diagnostic is an error.
    pub fn new(manifest: Option<Manifest>, diagnostics: Vec<Diagnostic>) -> ValidationReport {
        let valid = is_valid(manifest.as_ref(), &diagnostics);
        ValidationReport {
            valid,
            manifest: manifest.filter(|_| valid),
            diagnostics,
        }
    }
}

impl From<ManifestReport> for ValidationReport {
    fn from(report: ManifestReport) -> Self {
        ValidationReport::new(report.manifest, report.diagnostics)
    }
}

/// What checking an app folder found, without writing a bundle: `q8s-cli bundle --explain -o
/// json` and the page's `BundleBuilder.check`.
///
/// JSON: `{"valid", "manifest", "manifest_file", "icon", "screenshots", "diagnostics", "files",
/// "explain"}`, `files` as `{"path", "executable"}` and `explain` as `{"path",
/// "included", "rule"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// [`is_valid`].
    pub valid: bool,
    /// The manifest (when valid), manifest file, icon, screenshots and every finding of the
    /// selection and the content checks, as fields of the report itself.
    #[serde(flatten)]
    pub content: ContentReport,
    /// The files the bundle would hold, in archive order.
    pub files: Vec<SelectedFile>,
    /// Every path seen and the rule that decided it.
    pub explain: Vec<Decision>,
}

impl CheckReport {
    /// The report of a selection and its content checks ([`super::check_tree`]).
    pub fn new(selection: Selection, content: ContentReport) -> CheckReport {
        let mut content = content;
        let valid = content.settle();
        CheckReport {
            valid,
            content,
            files: selection.files,
            explain: selection.explain,
        }
    }
}

/// What reading a `.qz` found: `q8s-cli bundle inspect -o json`, the page's `inspectBundle`,
/// Python's `inspect`.
///
/// JSON: `{"path", "sha256", "size", "valid", "manifest", "manifest_file", "icon",
/// "screenshots", "diagnostics", "entries"}`, `entries` as `{"name", "size",
/// "compressed_size", "executable"}`; `path` only where the bundle is a file (not in the
/// page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectReport {
    /// The file read, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Lowercase hex sha256 of the archive bytes.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// [`is_valid`].
    pub valid: bool,
    /// The manifest (when valid), manifest file, icon, screenshots and every finding, as
    /// fields of the report itself.
    #[serde(flatten)]
    pub content: ContentReport,
    /// The entries, in archive order.
    pub entries: Vec<ArchiveEntry>,
}

impl InspectReport {
    /// The report of an archive of `size` bytes with digest `sha256`; `path` is the file it
    /// was read from, if any.
    pub fn new(
        report: ArchiveReport,
        path: Option<String>,
        sha256: String,
        size: u64,
    ) -> InspectReport {
        let mut content = report.content;
        let valid = content.settle();
        InspectReport {
            path,
            sha256,
            size,
            valid,
            content,
            entries: report.entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::MemTree;

    fn keys(value: impl Serialize) -> Vec<String> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn tree(manifest: &str) -> MemTree {
        let mut tree = MemTree::new();
        tree.add("q-app.toml", manifest.as_bytes().to_vec(), false)
            .unwrap();
        tree.add("demo/app.py", b"print(1)\n".to_vec(), false)
            .unwrap();
        tree.add("requirements.txt", b"h2o-wave\n".to_vec(), false)
            .unwrap();
        tree
    }

    const GOOD: &str =
        "[App]\nName = \"ai.h2o.q.demo\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"demo.app\"\n";

    #[test]
    fn each_report_has_its_documented_fields() {
        let (selection, content) = super::super::check_tree(&tree(GOOD)).unwrap();
        let check = CheckReport::new(selection, content);
        let (_, archive) = super::super::build_tree(&tree(GOOD), Vec::new()).unwrap();
        let archived =
            super::super::inspect_archive(std::io::Cursor::new(&archive), Default::default())
                .unwrap();
        let inspect = |path: Option<&str>| {
            InspectReport::new(archived.clone(), path.map(Into::into), "0".repeat(64), 1)
        };
        let content = "valid manifest manifest_file icon screenshots diagnostics";
        let validation = ValidationReport::from(crate::manifest::validate_manifest(GOOD));
        let cases = [
            (keys(validation), "valid manifest diagnostics".to_string()),
            (keys(&check), format!("{content} files explain")),
            (
                keys(inspect(Some("a.qz"))),
                format!("path sha256 size {content} entries"),
            ),
            (
                keys(inspect(None)),
                format!("sha256 size {content} entries"),
            ),
        ];
        for (mut got, want) in cases {
            got.sort();
            let mut want: Vec<&str> = want.split(' ').collect();
            want.sort();
            assert_eq!(got, want);
        }
        assert!(check.valid && check.content.manifest.is_some());
        assert_eq!(check.files[0].path, "demo/app.py");
    }

    #[test]
    fn an_error_makes_every_report_invalid_and_drops_the_manifest() {
        let manifest = crate::manifest::validate_manifest(GOOD).manifest;
        assert!(manifest.is_some());
        let error = Diagnostic::error("missing-module", "Runtime.Module", "m");
        let warning = Diagnostic::warning("w", "p", "m");
        assert!(is_valid(manifest.as_ref(), std::slice::from_ref(&warning)));
        assert!(!is_valid(manifest.as_ref(), std::slice::from_ref(&error)));
        assert!(!is_valid(None, &[]));
        // A valid manifest beside a content error: no report shows it.
        let content = ContentReport {
            manifest,
            manifest_file: Some("q-app.toml".into()),
            diagnostics: vec![warning, error],
            ..ContentReport::default()
        };
        let archive = ArchiveReport {
            entries: Vec::new(),
            content: content.clone(),
        };
        let validation =
            ValidationReport::new(content.manifest.clone(), content.diagnostics.clone());
        let check = CheckReport::new(Selection::default(), content);
        let inspect = InspectReport::new(archive, None, String::new(), 0);
        for (valid, manifest) in [
            (validation.valid, validation.manifest),
            (check.valid, check.content.manifest),
            (inspect.valid, inspect.content.manifest),
        ] {
            assert!(!valid && manifest.is_none());
        }
        let report = ValidationReport::from(crate::manifest::validate_manifest(
            &GOOD.replace("1.0.0", "1.0"),
        ));
        assert!(!report.valid && report.manifest.is_none());
    }
}
