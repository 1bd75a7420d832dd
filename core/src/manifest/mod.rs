//! The `q-app.toml` manifest: typed structs, parsing and every validation
//! rule of `docs/manifest.md`.
//!
//! [`validate_manifest`] never stops at the first problem: it returns every
//! diagnostic at once, with 1-based line and column (in characters) for
//! each. Field paths name array entries from 0: `Env[0].Name` is the `Name`
//! of the first `[[Env]]`, `App.Keywords[2]` the third keyword.
//!
//! ```
//! use q8s_core::manifest::validate_manifest;
//!
//! let report = validate_manifest(
//!     "[App]\nName = \"my-app\"\nVersion = \"0.1\"\n[Runtime]\nModule = \"app\"\n",
//! );
//! assert!(!report.is_valid());
//! let d = &report.diagnostics[0];
//! assert_eq!((d.code.as_str(), d.path.as_str()), ("invalid-version", "App.Version"));
//! assert_eq!((d.line, d.column), (Some(3), Some(11)));
//! assert_eq!(d.help.as_deref(), Some("use three numbers, e.g. \"0.1.0\""));
//! ```

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, sort_diagnostics};
use crate::quantity::Quantity;

mod app;
mod capacity;
mod charset;
mod check;
pub mod codes;
mod env;
mod keys;
mod node;
mod quantity_rules;
mod runtime;
mod source;
mod suggest;
#[cfg(test)]
mod tests;
mod volume;

pub use app::{CATEGORIES, check_app_name};
pub use env::PLATFORM_ENV_NAMES;
pub use volume::{RESERVED_VOLUME_MOUNTS, ReservedMount, check_volume_mount, reserved_mount};

// The name rules that secrets and their access rules are checked with.
pub use app::is_app_name;
pub use env::{is_secret_key, is_secret_name, secret_key_problem, secret_name_problem};

use check::Checker;
use node::Node;

/// The current manifest file name, at the bundle root.
pub const MANIFEST_FILE: &str = "q-app.toml";
/// The legacy manifest file name, accepted with a warning.
pub const LEGACY_MANIFEST_FILE: &str = "wave-app.toml";
/// H2O AI Cloud's manifest file name, accepted with a note.
pub const CLOUD_MANIFEST_FILE: &str = "app.toml";
/// Every name a manifest may have, in the order [`locate_manifest`] looks:
/// the first present is read, the others are left as they are.
pub const MANIFEST_FILES: [&str; 3] = [MANIFEST_FILE, LEGACY_MANIFEST_FILE, CLOUD_MANIFEST_FILE];

/// A valid manifest. JSON field names are those of the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The `[App]` table.
    pub app: App,
    /// The `[Runtime]` table.
    pub runtime: Runtime,
    /// The `[[Env]]` entries, in file order.
    pub env: Vec<EnvVar>,
}

/// The `[App]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Machine-oriented identifier linking versions, e.g. `ai.h2o.q.my-app`.
    pub name: String,
    /// Semantic version without build metadata.
    pub version: String,
    /// Human-oriented name.
    pub title: Option<String>,
    /// Free text, may be multi-line.
    pub description: Option<String>,
    /// Catalog category.
    pub category: Option<String>,
    /// Search keywords, in file order; a repeated keyword (a warning) is
    /// kept once.
    pub keywords: Vec<String>,
}

/// The `[Runtime]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    /// Main Python module, started as `python3 -m <module>`.
    pub module: String,
    /// Absolute path of the persistent volume inside the instance.
    pub volume_mount: Option<String>,
    /// Volume size as written (a Kubernetes quantity).
    pub volume_size: Option<String>,
    /// Hard memory limit as written (a Kubernetes quantity).
    pub memory_limit: Option<String>,
    /// Memory needed to schedule an instance, as written; when only a limit
    /// is set, [`Runtime::memory_reservation_bytes`] returns the limit.
    pub memory_reservation: Option<String>,
    /// How long an instance may go without a request before the service puts
    /// it to sleep, as written (a [duration](crate::duration) or `never`); see
    /// [`Runtime::idle_suspend`].
    #[serde(default)]
    pub idle_suspend: Option<String>,
}

/// `Runtime.IdleSuspend`'s word for "this app never sleeps".
pub const IDLE_SUSPEND_NEVER: &str = "never";

/// One `[[Env]]` entry: an environment variable filled from a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Environment variable name.
    pub name: String,
    /// Name of the secret.
    pub secret: String,
    /// Key within the secret.
    pub secret_key: String,
}

/// The outcome of validating a manifest: the manifest when it has no error,
/// and every diagnostic (warnings too) in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestReport {
    /// The manifest, present exactly when no diagnostic is an error.
    pub manifest: Option<Manifest>,
    /// Every finding, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestReport {
    /// True when there is no error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.manifest.is_some()
    }
}

impl Runtime {
    /// The volume size in bytes, when a volume is requested.
    ///
    /// ```
    /// # use q8s_core::manifest::validate_manifest;
    /// let text = "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"app\"\n\
    ///             VolumeMount = \"/data\"\nVolumeSize = \"1Gi\"\nMemoryLimit = \"500Mi\"\n";
    /// let runtime = validate_manifest(text).manifest.unwrap().runtime;
    /// assert_eq!(runtime.volume_size_bytes(), Some(1 << 30));
    /// assert_eq!(runtime.memory_limit_bytes(), Some(500 << 20));
    /// // Only a limit: the reservation is the limit, as in Kubernetes.
    /// assert_eq!(runtime.memory_reservation_bytes(), Some(500 << 20));
    /// ```
    pub fn volume_size_bytes(&self) -> Option<u64> {
        quantity_bytes(self.volume_size.as_deref())
    }

    /// The memory limit in bytes, when set (otherwise the service's default
    /// applies).
    pub fn memory_limit_bytes(&self) -> Option<u64> {
        quantity_bytes(self.memory_limit.as_deref())
    }

    /// The memory reservation in bytes: `MemoryReservation`, or else
    /// `MemoryLimit` (as Kubernetes does), or else `None`.
    pub fn memory_reservation_bytes(&self) -> Option<u64> {
        quantity_bytes(self.memory_reservation.as_deref()).or_else(|| self.memory_limit_bytes())
    }

    /// What the app says about sleeping when idle: `None` when it says nothing
    /// (the service's setting applies), `Some(None)` for `never`, else how
    /// long an instance may go without a request.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use q8s_core::manifest::validate_manifest;
    /// let text = "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"app\"\n\
    ///             IdleSuspend = \"1h30m\"\n";
    /// let runtime = validate_manifest(text).manifest.unwrap().runtime;
    /// assert_eq!(runtime.idle_suspend(), Some(Some(Duration::from_secs(5400))));
    /// ```
    pub fn idle_suspend(&self) -> Option<Option<std::time::Duration>> {
        let text = self.idle_suspend.as_deref()?;
        if text == IDLE_SUSPEND_NEVER {
            return Some(None);
        }
        crate::duration::parse(text).ok().map(Some)
    }

    /// The files that can hold the module in a bundle, in the order Python
    /// would look: `a/b.py`, `a/b/__init__.py`, `a/b/__main__.py` for `a.b`.
    pub fn module_paths(&self) -> [String; 3] {
        let base = self.module.replace('.', "/");
        [
            format!("{base}.py"),
            format!("{base}/__init__.py"),
            format!("{base}/__main__.py"),
        ]
    }
}

fn quantity_bytes(text: Option<&str>) -> Option<u64> {
    Quantity::parse(text?).ok()?.whole_bytes()
}

/// Parses and validates manifest text, reporting every problem at once.
///
/// A TOML syntax error is reported alone (code `toml-syntax`), since nothing
/// can be read past it.
pub fn validate_manifest(text: &str) -> ManifestReport {
    let mut cx = Checker::new(text);
    let manifest = match toml_edit::Document::parse(text) {
        Ok(document) => check_document(&mut cx, Node::Table(document.as_table())),
        Err(error) => {
            syntax_error(&mut cx, text, &error);
            None
        }
    };
    let mut diagnostics = cx.finish();
    sort_diagnostics(&mut diagnostics);
    let manifest = manifest.filter(|_| !crate::diagnostic::has_errors(&diagnostics));
    ManifestReport {
        manifest,
        diagnostics,
    }
}

/// Validates manifest bytes: text that is not UTF-8 is an error of its own
/// (code `not-utf8`), positioned at the first bad byte.
pub fn validate_manifest_bytes(bytes: &[u8]) -> ManifestReport {
    match std::str::from_utf8(bytes) {
        Ok(text) => validate_manifest(text),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let mut cx = Checker::new(prefix);
            let span = Some(prefix.len()..prefix.len());
            let (line, column) = cx.position(&span).unwrap_or((1, 1));
            cx.error(
                codes::NOT_UTF8,
                "",
                &span,
                format!(
                    "the manifest is not UTF-8 text (invalid byte at line {line}, column {column})"
                ),
                Some("save the file with UTF-8 encoding".into()),
            );
            ManifestReport {
                manifest: None,
                diagnostics: cx.finish(),
            }
        }
    }
}

fn check_document(cx: &mut Checker<'_>, root: Node<'_>) -> Option<Manifest> {
    cx.check_keys(root, "", &keys::ROOT);
    let app = required_table(cx, root, "App", "with `Name` and `Version`")
        .and_then(|t| app::check(cx, t));
    let runtime =
        required_table(cx, root, "Runtime", "with `Module`").and_then(|t| runtime::check(cx, t));
    let env = env::check(cx, root.get("Env"));
    if cx.has_errors() {
        return None;
    }
    Some(Manifest {
        app: app?,
        runtime: runtime?,
        env: env?,
    })
}

/// `[App]` or `[Runtime]`: absent, or not a table, is an error.
fn required_table<'n>(
    cx: &mut Checker<'_>,
    root: Node<'n>,
    name: &str,
    needs: &str,
) -> Option<Node<'n>> {
    match root.get(name) {
        Some(node) if node.is_table() => Some(node),
        Some(node) => {
            cx.wrong_type(name, node, "a table");
            None
        }
        None => {
            let twin = root
                .entries()
                .into_iter()
                .find(|e| e.key.eq_ignore_ascii_case(name));
            let help = match twin {
                Some(twin) => format!("keys are case-sensitive: rename [{}] to [{name}]", twin.key),
                None => format!("add the [{name}] table {needs}"),
            };
            let span = Some(0..0);
            let message = format!("the [{name}] table is missing");
            cx.error(codes::MISSING_TABLE, name, &span, message, Some(help));
            None
        }
    }
}

fn syntax_error(cx: &mut Checker<'_>, text: &str, error: &toml_edit::TomlError) {
    let span = error.span();
    let mut message = format!("invalid TOML: {}", error.message());
    let found = span
        .as_ref()
        .and_then(|s| text.get(s.clone()))
        .filter(|s| !s.is_empty() && s.len() <= 64 && !s.contains('\n'));
    let duplicate = error.message() == "duplicate key";
    if let (true, Some(found)) = (duplicate, found) {
        message = format!("invalid TOML: duplicate key `{found}`");
    }
    let help = duplicate.then(|| {
        "a key or table may appear only once; repeat `[[Env]]` (double brackets) for several entries"
            .to_string()
    });
    let span = span.or(Some(0..0));
    cx.error(codes::TOML_SYNTAX, "", &span, message, help);
}

/// Chooses the manifest file among the names of the files at a bundle root,
/// in the order of [`MANIFEST_FILES`]: `q-app.toml`, the legacy
/// `wave-app.toml` (with a warning), then H2O AI Cloud's `app.toml` (with a
/// note saying it is read). When several are present the first is used and
/// a note names each one ignored; none is an error.
///
/// ```
/// use q8s_core::manifest::locate_manifest;
///
/// let (found, diagnostics) = locate_manifest(&["app.py", "wave-app.toml"]);
/// assert_eq!(found, Some("wave-app.toml"));
/// assert_eq!(diagnostics[0].code, "legacy-manifest-name");
///
/// let (found, diagnostics) = locate_manifest(&["app.toml", "q-app.toml"]);
/// assert_eq!(found, Some("q-app.toml"));
/// assert_eq!((diagnostics[0].code.as_str(), diagnostics[0].path.as_str()), ("manifest-ignored", "app.toml"));
/// ```
pub fn locate_manifest<'a>(root_files: &[&'a str]) -> (Option<&'a str>, Vec<Diagnostic>) {
    let present: Vec<&'a str> = MANIFEST_FILES
        .iter()
        .filter_map(|name| root_files.iter().copied().find(|f| f == name))
        .collect();
    let Some((&used, ignored)) = present.split_first() else {
        return (None, vec![manifest_missing(root_files)]);
    };
    let mut diagnostics = Vec::new();
    if used == LEGACY_MANIFEST_FILE {
        diagnostics.push(
            Diagnostic::warning(
                codes::LEGACY_MANIFEST_NAME,
                LEGACY_MANIFEST_FILE,
                format!("{LEGACY_MANIFEST_FILE} is the old name of the manifest"),
            )
            .with_help(format!("rename it to {MANIFEST_FILE}")),
        );
    }
    if used == CLOUD_MANIFEST_FILE {
        diagnostics.push(
            Diagnostic::note(
                codes::CLOUD_MANIFEST_NAME,
                CLOUD_MANIFEST_FILE,
                format!("{CLOUD_MANIFEST_FILE} (H2O AI Cloud's name) is read as the manifest"),
            )
            .with_help(format!(
                "it stays in the bundle under its own name, so the app can read it at run time; \
                 name it {MANIFEST_FILE} once the app no longer deploys to H2O AI Cloud"
            )),
        );
    }
    for &other in ignored {
        let help = if other == CLOUD_MANIFEST_FILE {
            format!(
                "it stays in the bundle, so the app can still read it at run time; \
                 q8s takes its settings from {used} only"
            )
        } else {
            format!("delete {other}, or merge what it says into {used}")
        };
        diagnostics.push(
            Diagnostic::note(
                codes::MANIFEST_IGNORED,
                other,
                format!("{other} is not read as the manifest: {used} comes first"),
            )
            .with_help(help),
        );
    }
    (Some(used), diagnostics)
}

/// `manifest-missing`, with a hint when a name differs only in case.
fn manifest_missing(root_files: &[&str]) -> Diagnostic {
    let twin = root_files
        .iter()
        .find(|f| MANIFEST_FILES.iter().any(|m| f.eq_ignore_ascii_case(m)));
    let help = match twin {
        Some(twin) => {
            let name = MANIFEST_FILES
                .iter()
                .find(|m| twin.eq_ignore_ascii_case(m))
                .unwrap_or(&MANIFEST_FILE);
            format!("file names are case-sensitive: rename {twin} to {name}")
        }
        None => {
            format!("create {MANIFEST_FILE} with [App] Name and Version and [Runtime] Module")
        }
    };
    Diagnostic::error(
        codes::MANIFEST_MISSING,
        MANIFEST_FILE,
        format!(
            "there is no manifest ({}) at the root of the app",
            MANIFEST_FILES.join(", ")
        ),
    )
    .with_help(help)
}
