//! What a bundle must hold, checked the same way whether the files come from
//! a folder being bundled or from an uploaded `.qz`: the manifest at the
//! root, the module it names, the icon and screenshots under `static/`, and
//! `requirements.txt` (see [`crate::requirements`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, sort_diagnostics};
use crate::manifest::{Manifest, Runtime, locate_manifest, validate_manifest_bytes};
use crate::requirements::{self, check_requirements};

pub use crate::requirements::REQUIREMENTS_FILE;
/// The folder holding the icon and screenshots.
pub const STATIC_DIR: &str = "static/";

/// What the content checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentReport {
    /// The manifest, when the contents are valid ([`ContentReport::is_valid`]).
    pub manifest: Option<Manifest>,
    /// The manifest file used (`q-app.toml`, `wave-app.toml` or `app.toml`).
    pub manifest_file: Option<String>,
    /// The icon's path inside the bundle.
    pub icon: Option<String>,
    /// Screenshot paths, in name order.
    pub screenshots: Vec<String>,
    /// Every finding about the manifest and the contents.
    pub diagnostics: Vec<Diagnostic>,
}

impl ContentReport {
    /// Whether the contents make a valid bundle ([`super::is_valid`]).
    pub fn is_valid(&self) -> bool {
        super::is_valid(self.manifest.as_ref(), &self.diagnostics)
    }

    /// Drops the manifest unless the contents are valid, so that a report shows a manifest
    /// only when it is valid; returns whether it is.
    pub(super) fn settle(&mut self) -> bool {
        let valid = self.is_valid();
        if !valid {
            self.manifest = None;
        }
        valid
    }
}

/// Checks a bundle's contents. `paths` are every file of the bundle;
/// `read` returns the bytes of one of them (it is called for the manifest,
/// `requirements.txt`, the icon and the screenshots only).
pub fn check_contents<E>(
    paths: &[&str],
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, E>,
) -> Result<ContentReport, E> {
    let mut report = ContentReport::default();
    let root_files: Vec<&str> = paths.iter().copied().filter(|p| !p.contains('/')).collect();
    let (manifest_file, mut diagnostics) = locate_manifest(&root_files);
    if let Some(file) = manifest_file {
        let manifest_report = validate_manifest_bytes(&read(file)?);
        diagnostics.extend(manifest_report.diagnostics);
        report.manifest = manifest_report.manifest;
        report.manifest_file = Some(file.to_string());
    }
    let files: BTreeSet<&str> = paths.iter().copied().collect();
    if let Some(manifest) = &report.manifest {
        if let Some(d) = check_module(&manifest.runtime, &files) {
            diagnostics.push(d);
        }
    }
    check_static(&files, read, &mut report, &mut diagnostics)?;
    if files.contains(REQUIREMENTS_FILE) {
        let text = read(REQUIREMENTS_FILE)?;
        diagnostics.extend(check_requirements(&String::from_utf8_lossy(&text), &files));
    } else {
        diagnostics.push(
            Diagnostic::warning(
                requirements::REQUIREMENTS_MISSING,
                REQUIREMENTS_FILE,
                "the bundle has no requirements.txt, so only the platform's Python packages are available",
            )
            .with_help("list the app's dependencies (e.g. `h2o-wave==1.8.16`) in requirements.txt"),
        );
    }
    sort_diagnostics(&mut diagnostics);
    report.diagnostics = diagnostics;
    report.settle();
    Ok(report)
}

/// One of the files that make the module importable must be in the bundle.
fn check_module(runtime: &Runtime, files: &BTreeSet<&str>) -> Option<Diagnostic> {
    let candidates = runtime.module_paths();
    if candidates.iter().any(|c| files.contains(c.as_str())) {
        return None;
    }
    Some(
        Diagnostic::error(
            "module-missing",
            "Runtime.Module",
            format!("Runtime.Module \"{}\" is not in the bundle", runtime.module),
        )
        .with_help(format!(
            "add {} (or {}), or fix Runtime.Module; check that no ignore rule leaves it out",
            candidates[0], candidates[1]
        )),
    )
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = b"\xFF\xD8\xFF";

pub(crate) fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(PNG_MAGIC) {
        Some("png")
    } else if bytes.starts_with(JPEG_MAGIC) {
        Some("jpeg")
    } else {
        None
    }
}

/// Icon and screenshots: files directly in `static/` whose names start with
/// `icon` or `screenshot`.
fn check_static<E>(
    files: &BTreeSet<&str>,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, E>,
    report: &mut ContentReport,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<(), E> {
    let static_files = || {
        files.iter().copied().filter_map(|p| {
            let name = p.strip_prefix(STATIC_DIR)?;
            (!name.contains('/')).then_some((p, name))
        })
    };
    let icons: Vec<&str> = static_files()
        .filter(|(_, name)| name.starts_with("icon"))
        .map(|(p, _)| p)
        .collect();
    match icons.as_slice() {
        [] => diagnostics.push(
            Diagnostic::warning("icon-missing", STATIC_DIR, "the bundle has no icon")
                .with_help("add a PNG or JPEG named static/icon.png (or icon.jpg)"),
        ),
        [icon, rest @ ..] => {
            if !rest.is_empty() {
                diagnostics.push(Diagnostic::warning(
                    "multiple-icons",
                    *icon,
                    format!(
                        "{} files in static/ start with \"icon\"; {icon} is used",
                        icons.len()
                    ),
                ));
            }
            if image_kind(&read(icon)?).is_some() {
                report.icon = Some(icon.to_string());
            } else {
                diagnostics.push(
                    Diagnostic::error(
                        "icon-invalid",
                        *icon,
                        format!("{icon} is neither a PNG nor a JPEG image"),
                    )
                    .with_help("the icon must be a PNG or JPEG file (checked by its content, not its name)"),
                );
            }
        }
    }
    for (path, _) in static_files().filter(|(_, name)| name.starts_with("screenshot")) {
        if image_kind(&read(path)?).is_some() {
            report.screenshots.push(path.to_string());
        } else {
            diagnostics.push(Diagnostic::warning(
                "screenshot-invalid",
                path,
                format!("{path} is neither a PNG nor a JPEG image; it is not shown"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(list: &[&'a str]) -> BTreeSet<&'a str> {
        list.iter().copied().collect()
    }

    #[test]
    fn module_forms() {
        let f = files(&["a/b.py", "c/__init__.py", "d/e/__main__.py"]);
        let runtime = |module: &str| Runtime {
            module: module.to_string(),
            volume_mount: None,
            volume_size: None,
            memory_limit: None,
            memory_reservation: None,
            idle_suspend: None,
        };
        assert!(check_module(&runtime("a.b"), &f).is_none());
        assert!(check_module(&runtime("c"), &f).is_none());
        assert!(check_module(&runtime("d.e"), &f).is_none());
        assert_eq!(
            check_module(&runtime("a"), &f).unwrap().code,
            "module-missing"
        );
    }

    #[test]
    fn icons_by_magic_bytes() {
        let f = files(&[
            "static/icon.png",
            "static/screenshot-2.png",
            "static/screenshot-1.jpg",
        ]);
        let mut read = |p: &str| -> Result<Vec<u8>, ()> {
            Ok(match p {
                "static/icon.png" => PNG_MAGIC.to_vec(),
                "static/screenshot-1.jpg" => JPEG_MAGIC.to_vec(),
                _ => b"GIF89a".to_vec(),
            })
        };
        let mut report = ContentReport::default();
        let mut diags = Vec::new();
        check_static(&f, &mut read, &mut report, &mut diags).unwrap();
        assert_eq!(report.icon.as_deref(), Some("static/icon.png"));
        assert_eq!(report.screenshots, ["static/screenshot-1.jpg"]);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "screenshot-invalid");

        let mut read_bad = |_: &str| -> Result<Vec<u8>, ()> { Ok(b"<svg/>".to_vec()) };
        let mut report = ContentReport::default();
        let mut diags = Vec::new();
        check_static(
            &files(&["static/icon.svg"]),
            &mut read_bad,
            &mut report,
            &mut diags,
        )
        .unwrap();
        assert_eq!(diags[0].code, "icon-invalid");
        assert!(report.icon.is_none());
    }
}
