//! Arbitrary bytes as a `q-app.toml`: validation must never panic, and a
//! report is valid exactly when it has no error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use q8s_core::manifest::validate_manifest_bytes;

fuzz_target!(|data: &[u8]| {
    let report = validate_manifest_bytes(data);
    assert_eq!(
        report.is_valid(),
        !q8s_core::has_errors(&report.diagnostics),
        "{report:?}"
    );
});
