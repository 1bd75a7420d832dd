//! Every diagnostic code of the manifest, stable across releases and
//! surfaces. `docs/manifest.md` explains each with an example and a fix.

use crate::diagnostic::Severity;

/// Error: the manifest bytes are not UTF-8.
pub const NOT_UTF8: &str = "not-utf8";
/// Error: the text is not valid TOML.
pub const TOML_SYNTAX: &str = "toml-syntax";
/// Error: `[App]` or `[Runtime]` is absent.
pub const MISSING_TABLE: &str = "missing-table";
/// Error: a required key is absent.
pub const MISSING_KEY: &str = "missing-key";
/// Error: a known key has a value of the wrong TOML type.
pub const WRONG_TYPE: &str = "wrong-type";
/// Warning: a key or table q8s does not know.
pub const UNKNOWN_KEY: &str = "unknown-key";
/// Note: a top-level table q8s does not read, which the app keeps for
/// itself (`[Brand]`, `[Data]`).
pub const EXTRA_TABLE: &str = "extra-table";
/// Warning: an H2O AI Cloud key that q8s does not use.
pub const UNSUPPORTED_KEY: &str = "unsupported-key";
/// Error: `App.Name` breaks its pattern or length.
pub const INVALID_NAME: &str = "invalid-name";
/// Error: `App.Version` is not a semantic version without build metadata of
/// at most 48 characters.
pub const INVALID_VERSION: &str = "invalid-version";
/// Error: `App.Title` is empty.
pub const EMPTY_TITLE: &str = "empty-title";
/// Warning: `App.Category` is not one the catalog knows.
pub const UNKNOWN_CATEGORY: &str = "unknown-category";
/// Error: an `App.Keywords` entry is empty.
pub const EMPTY_KEYWORD: &str = "empty-keyword";
/// Warning: an `App.Keywords` entry repeats an earlier one.
pub const DUPLICATE_KEYWORD: &str = "duplicate-keyword";
/// Error: `Runtime.Module` is not a dotted Python module name.
pub const INVALID_MODULE: &str = "invalid-module";
/// Error: `Runtime.VolumeMount` is not an absolute, normalised path.
pub const INVALID_VOLUME_MOUNT: &str = "invalid-volume-mount";
/// Error: `Runtime.VolumeMount` is a folder the platform uses, or below one.
pub const RESERVED_VOLUME_MOUNT: &str = "reserved-volume-mount";
/// Error: only one of `Runtime.VolumeMount` and `Runtime.VolumeSize` is set.
pub const VOLUME_INCOMPLETE: &str = "volume-incomplete";
/// Error: a size is not a Kubernetes quantity.
pub const INVALID_QUANTITY: &str = "invalid-quantity";
/// Error: a size is zero or negative.
pub const QUANTITY_NOT_POSITIVE: &str = "quantity-not-positive";
/// Error: a size is not a whole number of bytes (`400m`).
pub const FRACTIONAL_BYTES: &str = "fractional-bytes";
/// Error: a size is beyond 2⁶⁴ − 1 bytes.
pub const QUANTITY_OUT_OF_RANGE: &str = "quantity-out-of-range";
/// Warning: `Runtime.MemoryLimit` is below 64Mi.
pub const MEMORY_LIMIT_LOW: &str = "memory-limit-low";
/// Error: `Runtime.MemoryReservation` is greater than `Runtime.MemoryLimit`.
pub const MEMORY_RESERVATION_EXCEEDS_LIMIT: &str = "memory-reservation-exceeds-limit";
/// Error: `Runtime.MemoryLimit` or `Runtime.MemoryReservation` is more than
/// the server's memory capacity. The server checks it at import with
/// [`Runtime::check_memory_capacity`](super::Runtime::check_memory_capacity);
/// [`validate_manifest`](super::validate_manifest) cannot, so it is not in
/// [`ALL`].
pub const MEMORY_ABOVE_CAPACITY: &str = "memory-above-capacity";
/// Error: `Runtime.IdleSuspend` is neither a duration of a second or more nor
/// `never`.
pub const INVALID_DURATION: &str = "invalid-duration";
/// Error: an `Env` `Name` is not an environment variable name.
pub const INVALID_ENV_NAME: &str = "invalid-env-name";
/// Error: an `Env` `Name` starts with `Q8S` or is set by the platform.
pub const RESERVED_ENV_NAME: &str = "reserved-env-name";
/// Error: two `Env` entries set the same variable.
pub const DUPLICATE_ENV_NAME: &str = "duplicate-env-name";
/// Error: an `Env` `Secret` breaks its pattern or length.
pub const INVALID_SECRET_NAME: &str = "invalid-secret-name";
/// Error: an `Env` `SecretKey` breaks its pattern or length.
pub const INVALID_SECRET_KEY: &str = "invalid-secret-key";
/// Error: no manifest at the bundle root.
pub const MANIFEST_MISSING: &str = "manifest-missing";
/// Warning: the manifest uses the legacy name `wave-app.toml`.
pub const LEGACY_MANIFEST_NAME: &str = "legacy-manifest-name";
/// Note: the manifest is H2O AI Cloud's `app.toml`.
pub const CLOUD_MANIFEST_NAME: &str = "cloud-manifest-name";
/// Note: another manifest name is present too and comes first, so this one
/// is not read (`app.toml` beside `q-app.toml`).
pub const MANIFEST_IGNORED: &str = "manifest-ignored";

/// Every code with its severity, in documentation order. The last four come
/// from [`locate_manifest`](super::locate_manifest), the others from
/// [`validate_manifest`](super::validate_manifest).
pub const ALL: &[(&str, Severity)] = &[
    (NOT_UTF8, Severity::Error),
    (TOML_SYNTAX, Severity::Error),
    (MISSING_TABLE, Severity::Error),
    (MISSING_KEY, Severity::Error),
    (WRONG_TYPE, Severity::Error),
    (UNKNOWN_KEY, Severity::Warning),
    (EXTRA_TABLE, Severity::Note),
    (UNSUPPORTED_KEY, Severity::Warning),
    (INVALID_NAME, Severity::Error),
    (INVALID_VERSION, Severity::Error),
    (EMPTY_TITLE, Severity::Error),
    (UNKNOWN_CATEGORY, Severity::Warning),
    (EMPTY_KEYWORD, Severity::Error),
    (DUPLICATE_KEYWORD, Severity::Warning),
    (INVALID_MODULE, Severity::Error),
    (INVALID_VOLUME_MOUNT, Severity::Error),
    (RESERVED_VOLUME_MOUNT, Severity::Error),
    (VOLUME_INCOMPLETE, Severity::Error),
    (INVALID_QUANTITY, Severity::Error),
    (QUANTITY_NOT_POSITIVE, Severity::Error),
    (FRACTIONAL_BYTES, Severity::Error),
    (QUANTITY_OUT_OF_RANGE, Severity::Error),
    (MEMORY_LIMIT_LOW, Severity::Warning),
    (MEMORY_RESERVATION_EXCEEDS_LIMIT, Severity::Error),
    (INVALID_DURATION, Severity::Error),
    (INVALID_ENV_NAME, Severity::Error),
    (RESERVED_ENV_NAME, Severity::Error),
    (DUPLICATE_ENV_NAME, Severity::Error),
    (INVALID_SECRET_NAME, Severity::Error),
    (INVALID_SECRET_KEY, Severity::Error),
    (MANIFEST_MISSING, Severity::Error),
    (LEGACY_MANIFEST_NAME, Severity::Warning),
    (CLOUD_MANIFEST_NAME, Severity::Note),
    (MANIFEST_IGNORED, Severity::Note),
];
