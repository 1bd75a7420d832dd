//! Building bundles from real folders: files are read and compressed in
//! parallel and the archive is streamed to a temporary file that is renamed
//! into place only when complete.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{
    ArchiveReport, BundleError, BundleInfo, ContentReport, InspectReport, ValidationReport,
    bundle_info, check_tree, entries_of, inspect_archive, valid_manifest,
};
use crate::archive::{BackgroundWriter, HashingWriter, Limits, QzReader, write_parallel};
use crate::select::{FsTree, Selection, Tree};

/// Where and how [`build_dir`] writes.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The output file, or a folder to put `<Name>.<Version>.qz` in; the
    /// current directory when `None`.
    pub output: Option<PathBuf>,
}

/// Selects, checks and bundles the app folder `dir`. The archive appears at
/// its final path only when complete; on any error nothing is left behind.
pub fn build_dir(dir: &Path, options: &BuildOptions) -> Result<(BundleInfo, PathBuf), BundleError> {
    let tree = FsTree::new(dir).map_err(BundleError::io(format!("opening {}", dir.display())))?;
    let (selection, report) = check_tree(&tree)?;
    let manifest = valid_manifest(&report)?;
    let file_name = super::bundle_file_name(&manifest.app.name, &manifest.app.version);
    let target = output_path(options.output.as_deref(), &file_name);
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `-o dist/` names a folder that may not exist yet.
    std::fs::create_dir_all(&parent)
        .map_err(BundleError::io(format!("creating {}", parent.display())))?;
    let temp = tempfile::Builder::new()
        .prefix(".q8s-bundle-")
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(BundleError::io(format!(
            "creating a file in {}",
            parent.display()
        )))?;
    let writing = || BundleError::io(format!("writing {}", target.display()));
    // This thread hashes while another makes the write calls: at the end,
    // when only stored files are left, both run at once.
    let file = temp.as_file().try_clone().and_then(BackgroundWriter::new);
    let out = HashingWriter::new(file.map_err(writing())?);
    let entries = entries_of(&selection);
    let (out, _stats) = write_parallel(&entries, |p| tree.read(p), out).map_err(writing())?;
    let (background, digest) = out.finish();
    let (sha256, size) = (digest.hex(), digest.len);
    // No fsync, as with zip or tar: the rename below keeps readers from ever
    // seeing a partial bundle, and a bundle cut short by a crash is rejected
    // by the reader and rebuilt with the same bytes.
    background.finish().map_err(writing())?;
    set_readable(temp.path());
    temp.persist(&target).map_err(|e| BundleError::Io {
        context: format!("moving the bundle to {}", target.display()),
        source: e.error,
    })?;
    Ok((
        bundle_info(manifest, selection, report, sha256, size),
        target,
    ))
}

/// Temporary files are created 0600; a bundle is an ordinary file.
fn set_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn output_path(output: Option<&Path>, file_name: &str) -> PathBuf {
    match output {
        None => PathBuf::from(file_name),
        Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => {
            p.join(file_name)
        }
        Some(p) => p.to_path_buf(),
    }
}

/// Checks the app folder `dir` as [`build_dir`] would, writing nothing.
pub fn check_dir(dir: &Path) -> Result<(Selection, ContentReport), BundleError> {
    let tree = FsTree::new(dir).map_err(BundleError::io(format!("opening {}", dir.display())))?;
    check_tree(&tree as &dyn Tree)
}

/// Opens and checks the `.qz` file at `path` (see [`inspect_archive`]).
pub fn inspect_file(path: &Path, limits: Limits) -> Result<ArchiveReport, BundleError> {
    let file = File::open(path).map_err(BundleError::io(format!("opening {}", path.display())))?;
    inspect_archive(std::io::BufReader::new(file), limits)
}

/// The icon of the `.qz` file at `path` (the entry [`inspect_file`] reports as `icon`) with
/// its media type, `image/png` or `image/jpeg`; `None` when the bundle has none.
pub fn bundle_icon(path: &Path, limits: Limits) -> Result<Option<(String, Vec<u8>)>, BundleError> {
    let Some(icon) = inspect_file(path, limits)?.content.icon else {
        return Ok(None);
    };
    let file = File::open(path).map_err(BundleError::io(format!("opening {}", path.display())))?;
    let bytes = QzReader::open(std::io::BufReader::new(file), limits)?.read(&icon)?;
    let kind = super::content::image_kind(&bytes).unwrap_or("png");
    Ok(Some((format!("image/{kind}"), bytes)))
}

/// Reads the `.qz` file at `path` as [`inspect_file`] does and reports it with its sha256 and
/// size: the one meaning of `q8s-cli bundle inspect FILE` and `q8s.inspect(path)`.
pub fn inspect_path(path: &Path, limits: Limits) -> Result<InspectReport, BundleError> {
    let report = inspect_file(path, limits)?;
    let reading = || BundleError::io(format!("reading {}", path.display()));
    let sha256 = file_sha256(path).map_err(reading())?;
    let size = std::fs::metadata(path).map_err(reading())?.len();
    let shown = path.display().to_string();
    Ok(InspectReport::new(report, Some(shown), sha256, size))
}

/// What [`validate_path`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// The manifest (when valid) and every finding.
    pub report: ValidationReport,
    /// The file the diagnostics' lines and columns refer to, as shown to people.
    pub source: String,
}

/// Checks an app folder, a `.qz` bundle or a manifest file, whichever `path`
/// is: the one meaning of `q8s-cli bundle validate PATH` and `q8s.validate(path)`.
/// A broken archive is an error; an invalid manifest or content is a
/// [`Validation`] whose diagnostics say why.
pub fn validate_path(path: &Path) -> Result<Validation, BundleError> {
    if path.is_dir() {
        let (_, report) = check_dir(path)?;
        return Ok(Validation {
            report: ValidationReport::new(report.manifest, report.diagnostics),
            source: manifest_display(path),
        });
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("qz"))
    {
        let content = inspect_file(path, Limits::default())?.content;
        return Ok(Validation {
            report: ValidationReport::new(content.manifest, content.diagnostics),
            source: content
                .manifest_file
                .unwrap_or_else(|| crate::manifest::MANIFEST_FILE.to_string()),
        });
    }
    let bytes =
        std::fs::read(path).map_err(BundleError::io(format!("reading {}", path.display())))?;
    Ok(Validation {
        report: crate::manifest::validate_manifest_bytes(&bytes).into(),
        source: path.display().to_string(),
    })
}

/// How the manifest of the app folder `dir` is named in messages:
/// `q-app.toml` for the current folder, `dir/q-app.toml` otherwise (or the
/// `wave-app.toml` or `app.toml` that [`locate_manifest`](crate::manifest::locate_manifest) would
/// read instead).
pub fn manifest_display(dir: &Path) -> String {
    let present: Vec<&str> = crate::manifest::MANIFEST_FILES
        .into_iter()
        .filter(|name| dir.join(name).is_file())
        .collect();
    let name = crate::manifest::locate_manifest(&present)
        .0
        .unwrap_or(crate::manifest::MANIFEST_FILE);
    if dir == Path::new(".") {
        name.to_string()
    } else {
        dir.join(name).display().to_string()
    }
}

/// The lowercase hex sha256 of the file at `path`, read as a stream.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hashing = HashingWriter::new(std::io::sink());
    std::io::copy(&mut file, &mut hashing)?;
    Ok(hashing.finish().1.hex())
}
