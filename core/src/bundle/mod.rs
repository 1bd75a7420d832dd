//! Bundles: building a `.qz` from an app folder, checking what a bundle
//! holds, and deploy versions.
//!
//! Building runs the same steps on every surface: [`crate::select`] chooses
//! the files, [`check_contents`] checks the manifest and contents, and the
//! deterministic writer of [`crate::archive`] writes the archive. Nothing is
//! written when there is an error.

mod content;
mod deploy;
#[cfg(not(target_family = "wasm"))]
mod native;

use std::io::{self, Read, Seek, Write};

use serde::{Deserialize, Serialize};

pub use content::{ContentReport, REQUIREMENTS_FILE, STATIC_DIR, check_contents};
pub use deploy::{deploy_version, utc_stamp};
#[cfg(not(target_family = "wasm"))]
pub use native::{
    BuildOptions, Validation, build_dir, check_dir, file_sha256, inspect_file, manifest_display,
    validate_path,
};

use crate::archive::{
    ArchiveEntry, ArchiveError, HashingWriter, Limits, QzReader, write_sequential,
};
use crate::diagnostic::{Diagnostic, has_errors};
use crate::manifest::Manifest;
use crate::select::{Decision, Selection, Tree, select};

/// The file name of a bundle: `<Name>.<Version>.qz`.
///
/// ```
/// assert_eq!(q8s_core::bundle::bundle_file_name("ai.h2o.q.peak", "0.1.2"), "ai.h2o.q.peak.0.1.2.qz");
/// ```
pub fn bundle_file_name(name: &str, version: &str) -> String {
    format!("{name}.{version}.qz")
}

/// Why a bundle could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The manifest, the contents or the archive break a rule; the
    /// diagnostics say which (warnings included).
    #[error("{}", invalid_summary(.0))]
    Invalid(Vec<Diagnostic>),
    /// Reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn invalid_summary(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    match errors.as_slice() {
        [] => "the bundle is invalid".to_string(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{} (and {} more errors)", first.message, rest.len()),
    }
}

impl BundleError {
    /// The stable code: `invalid-bundle` or `io-error`.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Invalid(_) => "invalid-bundle",
            BundleError::Io { .. } => "io-error",
        }
    }

    /// The diagnostics of an invalid bundle (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            BundleError::Invalid(d) => d,
            BundleError::Io { .. } => &[],
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> BundleError {
        let context = context.into();
        move |source| BundleError::Io { context, source }
    }
}

impl From<ArchiveError> for BundleError {
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Invalid(d) => BundleError::Invalid(d),
            ArchiveError::Io(source) => BundleError::Io {
                context: "reading the archive".into(),
                source,
            },
        }
    }
}

/// A bundle that was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// `<Name>.<Version>.qz`.
    pub file_name: String,
    /// `App.Name`.
    pub name: String,
    /// `App.Version`.
    pub version: String,
    /// Lowercase hex sha256 of the archive bytes.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// The paths stored, sorted bytewise.
    pub files: Vec<String>,
    /// The icon's path, if any.
    pub icon: Option<String>,
    /// Screenshot paths, in name order.
    pub screenshots: Vec<String>,
    /// The warnings found (a bundle with errors is never written).
    pub diagnostics: Vec<Diagnostic>,
    /// Every path seen and the rule that decided it.
    pub explain: Vec<Decision>,
}

/// Selects the files of `tree` and checks them, without writing anything:
/// the selection and the content report, with every diagnostic of both.
pub fn check_tree(tree: &dyn Tree) -> Result<(Selection, ContentReport), BundleError> {
    let selection = select(tree).map_err(BundleError::io("reading the app folder"))?;
    let paths: Vec<&str> = selection.files.iter().map(|f| f.path.as_str()).collect();
    let mut report = check_contents(&paths, &mut |p: &str| tree.read(p))
        .map_err(BundleError::io("reading the app folder"))?;
    let mut diagnostics = selection.diagnostics.clone();
    diagnostics.append(&mut report.diagnostics);
    crate::diagnostic::sort_diagnostics(&mut diagnostics);
    if has_errors(&diagnostics) {
        report.manifest = None;
    }
    report.diagnostics = diagnostics;
    Ok((selection, report))
}

/// Builds a bundle of `tree` into `out` on the current thread (the wasm
/// build and small trees; natively, [`build_dir`] compresses in parallel).
/// Returns the bundle's description and the writer.
pub fn build_tree<W: Write>(tree: &dyn Tree, out: W) -> Result<(BundleInfo, W), BundleError> {
    let (selection, report) = check_tree(tree)?;
    let manifest = valid_manifest(&report)?;
    let entries = entries_of(&selection);
    let (hashing, _stats) = write_sequential(&entries, |p| tree.read(p), HashingWriter::new(out))
        .map_err(BundleError::io("writing the bundle"))?;
    let (out, digest) = hashing.finish();
    let (sha256, size) = (digest.hex(), digest.len);
    Ok((bundle_info(manifest, selection, report, sha256, size), out))
}

fn entries_of(selection: &Selection) -> Vec<(String, bool)> {
    selection
        .files
        .iter()
        .map(|f| (f.path.clone(), f.executable))
        .collect()
}

fn valid_manifest(report: &ContentReport) -> Result<Manifest, BundleError> {
    match &report.manifest {
        Some(m) if !has_errors(&report.diagnostics) => Ok(m.clone()),
        _ => Err(BundleError::Invalid(report.diagnostics.clone())),
    }
}

fn bundle_info(
    manifest: Manifest,
    selection: Selection,
    report: ContentReport,
    sha256: String,
    size: u64,
) -> BundleInfo {
    BundleInfo {
        file_name: bundle_file_name(&manifest.app.name, &manifest.app.version),
        name: manifest.app.name,
        version: manifest.app.version,
        sha256,
        size,
        files: selection.files.into_iter().map(|f| f.path).collect(),
        icon: report.icon,
        screenshots: report.screenshots,
        diagnostics: report.diagnostics,
        explain: selection.explain,
    }
}

/// What an untrusted `.qz` holds, after every entry was read and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReport {
    /// The entries, in archive order.
    pub entries: Vec<ArchiveEntry>,
    /// The manifest, icon, screenshots and diagnostics.
    pub content: ContentReport,
}

impl ArchiveReport {
    /// True when nothing is an error.
    pub fn is_valid(&self) -> bool {
        self.content.manifest.is_some() && !has_errors(&self.content.diagnostics)
    }
}

/// Opens an untrusted `.qz`, reads every entry once within `limits`
/// (inflated bytes counted, CRCs checked) and checks its contents.
/// A broken archive is an error; a well-formed archive with a bad manifest
/// or contents is a report whose diagnostics say so.
pub fn inspect_archive<R: Read + Seek>(
    input: R,
    limits: Limits,
) -> Result<ArchiveReport, BundleError> {
    let mut reader = QzReader::open(input, limits)?;
    reader.verify()?;
    let entries = reader.entries().to_vec();
    let paths: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let content = check_contents(&paths, &mut |p: &str| reader.read(p))?;
    Ok(ArchiveReport { entries, content })
}
