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
mod report;

use std::io::{self, Read, Seek, Write};

use serde::{Deserialize, Serialize};

pub use content::{ContentReport, REQUIREMENTS_FILE, STATIC_DIR, check_contents};
pub use deploy::{deploy_version, utc_stamp};
#[cfg(not(target_family = "wasm"))]
pub use native::{
    BuildOptions, Validation, build_dir, bundle_icon, check_dir, file_sha256, inspect_file,
    inspect_path, manifest_display, validate_path,
};
pub use report::{CheckReport, InspectReport, ValidationReport, is_valid};

use crate::api::ErrorCode;
use crate::archive::{
    ArchiveEntry, ArchiveError, DeterministicZipWriter, HashingWriter, Limits, QzReader,
    compress_entry_owned,
};
use crate::diagnostic::Diagnostic;
use crate::manifest::Manifest;
use crate::select::{Decision, SelectedFile, Selection, Tree, select};

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
            BundleError::Invalid(_) => ErrorCode::InvalidBundle.as_str(),
            BundleError::Io { .. } => ErrorCode::IoError.as_str(),
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
    report.diagnostics = diagnostics;
    report.settle();
    Ok((selection, report))
}

/// Builds a bundle of `tree` into `out` on the current thread (the wasm
/// build and small trees; natively, [`build_dir`] compresses in parallel).
/// Returns the bundle's description and the writer.
pub fn build_tree<W: Write>(tree: &dyn Tree, out: W) -> Result<(BundleInfo, W), BundleError> {
    let mut writer = BundleWriter::start(tree, out)?;
    while let Some(file) = writer.next_file() {
        let bytes = tree
            .read(&file.path)
            .map_err(BundleError::io("reading the app folder"))?;
        writer.push(bytes)?;
    }
    writer.finish()
}

/// A bundle written on the current thread, entry by entry, with each selected file's bytes
/// handed over by the caller in archive order: for hosts that read files asynchronously (a
/// browser's Worker), which can read the next files while this one is compressed.
/// [`build_tree`] is this with the tree's own reads; both write the same bytes.
///
/// ```
/// use q8s_core::bundle::BundleWriter;
/// use q8s_core::select::{MemTree, Tree};
///
/// let mut tree = MemTree::new();
/// let manifest = "[App]\nName = \"ai.h2o.q.demo\"\nVersion = \"1.0.0\"\n\n[Runtime]\nModule = \"demo.app\"\n";
/// tree.add("q-app.toml", manifest.as_bytes().to_vec(), false).unwrap();
/// tree.add("demo/app.py", b"print('hi')\n".to_vec(), false).unwrap();
/// tree.add("requirements.txt", b"h2o-wave\n".to_vec(), false).unwrap();
/// let mut writer = BundleWriter::start(&tree, Vec::new()).unwrap();
/// let mut order = Vec::new();
/// while let Some(file) = writer.next_file() {
///     order.push(file.path.clone());
///     let bytes = tree.read(&file.path).unwrap(); // or read ahead, asynchronously
///     writer.push(bytes).unwrap();
/// }
/// let (info, archive) = writer.finish().unwrap();
/// assert_eq!(order, ["demo/app.py", "q-app.toml", "requirements.txt"]);
/// assert_eq!(info.size, archive.len() as u64);
/// ```
pub struct BundleWriter<W: Write> {
    manifest: Manifest,
    selection: Selection,
    report: ContentReport,
    /// How many of `selection.files` are written.
    written: usize,
    zip: DeterministicZipWriter<HashingWriter<W>>,
}

impl<W: Write> BundleWriter<W> {
    /// Selects and checks the files of `tree` (reading only what the checks need: the
    /// manifest, the icon, the screenshots) and starts the archive in `out`. A bundle with an
    /// error diagnostic is refused here, before anything is written.
    pub fn start(tree: &dyn Tree, out: W) -> Result<BundleWriter<W>, BundleError> {
        let (selection, report) = check_tree(tree)?;
        let manifest = valid_manifest(&report)?;
        Ok(BundleWriter {
            manifest,
            selection,
            report,
            written: 0,
            zip: DeterministicZipWriter::new(HashingWriter::new(out)),
        })
    }

    /// The file whose bytes [`push`](Self::push) takes next; `None` once all are written.
    pub fn next_file(&self) -> Option<&SelectedFile> {
        self.selection.files.get(self.written)
    }

    /// The files still to write, in archive order (the next one first): what to read ahead.
    pub fn remaining(&self) -> &[SelectedFile] {
        &self.selection.files[self.written..]
    }

    /// Compresses and writes the bytes of [`next_file`](Self::next_file).
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<(), BundleError> {
        let Some(file) = self.selection.files.get(self.written) else {
            return Err(BundleError::Io {
                context: "writing the bundle".into(),
                source: io::Error::other("every selected file is written already"),
            });
        };
        let entry = compress_entry_owned(&file.path, bytes, file.executable);
        self.zip
            .add(&entry)
            .map_err(BundleError::io("writing the bundle"))?;
        self.written += 1;
        Ok(())
    }

    /// Ends the archive once every selected file is written; returns the bundle's
    /// description and the writer.
    pub fn finish(self) -> Result<(BundleInfo, W), BundleError> {
        if let Some(file) = self.next_file() {
            return Err(BundleError::Io {
                context: "writing the bundle".into(),
                source: io::Error::other(format!(
                    "{} of {} files are not written yet (next: {})",
                    self.selection.files.len() - self.written,
                    self.selection.files.len(),
                    file.path
                )),
            });
        }
        let (hashing, _) = self
            .zip
            .finish_with_len()
            .map_err(BundleError::io("writing the bundle"))?;
        let (out, digest) = hashing.finish();
        let info = bundle_info(
            self.manifest,
            self.selection,
            self.report,
            digest.hex(),
            digest.len,
        );
        Ok((info, out))
    }
}

#[cfg(not(target_family = "wasm"))]
fn entries_of(selection: &Selection) -> Vec<(String, bool)> {
    selection
        .files
        .iter()
        .map(|f| (f.path.clone(), f.executable))
        .collect()
}

fn valid_manifest(report: &ContentReport) -> Result<Manifest, BundleError> {
    match &report.manifest {
        Some(m) if report.is_valid() => Ok(m.clone()),
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
    /// True when nothing is an error ([`is_valid`]).
    pub fn is_valid(&self) -> bool {
        self.content.is_valid()
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
