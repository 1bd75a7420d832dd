//! Sizes in the manifest (`VolumeSize`, `MemoryLimit`,
//! `MemoryReservation`): Kubernetes quantities that are a whole, positive
//! number of bytes.

use crate::quantity::{BytesError, Quantity, QuantityError, Suffix};

use super::check::{Checker, Field};
use super::codes;

/// Checks a size; its bytes when it is valid.
pub(super) fn check(cx: &mut Checker<'_>, f: &Field<'_>) -> Option<u64> {
    let (path, value) = (&f.path, f.value);
    let (code, message, help) = match Quantity::parse(value) {
        Err(QuantityError::ExponentOutOfRange) => too_large(path, value),
        Err(error) => (
            error.code(),
            format!("{path} {value:?} is not a Kubernetes quantity"),
            parse_help(value, &error),
        ),
        Ok(q) => match q.to_whole_bytes() {
            Ok(0) => not_positive(path, value, "zero"),
            Ok(bytes) => return Some(bytes),
            Err(BytesError::Negative) => not_positive(path, value, "negative"),
            Err(BytesError::Fractional) if q.suffix() == Suffix::Milli => (
                codes::FRACTIONAL_BYTES,
                format!("{path} {value:?} is not a whole number of bytes: `m` means thousandths"),
                format!(
                    "for mebibytes write {:?}",
                    format!("{}Mi", &value[..value.len() - 1])
                ),
            ),
            Err(BytesError::Fractional) => (
                codes::FRACTIONAL_BYTES,
                format!("{path} {value:?} is not a whole number of bytes"),
                "use a whole number of bytes, e.g. \"512Mi\" or \"1Gi\"".to_string(),
            ),
            Err(BytesError::TooLarge) => too_large(path, value),
        },
    };
    cx.error(code, path, &f.span, message, Some(help));
    None
}

fn not_positive(path: &str, value: &str, what: &str) -> (&'static str, String, String) {
    (
        codes::QUANTITY_NOT_POSITIVE,
        format!("{path} {value:?} is {what}"),
        "use a size above zero, e.g. \"1Gi\"".to_string(),
    )
}

fn too_large(path: &str, value: &str) -> (&'static str, String, String) {
    (
        codes::QUANTITY_OUT_OF_RANGE,
        format!("{path} {value:?} is more than 2^64 - 1 bytes"),
        "use a realistic size, e.g. \"10Gi\"".to_string(),
    )
}

fn parse_help(value: &str, error: &QuantityError) -> String {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact != value && Quantity::parse(&compact).is_ok() {
        return format!("remove the spaces: {compact:?}");
    }
    if let QuantityError::InvalidSuffix { suffix } = error {
        let number = &value[..value.len() - suffix.len()];
        if let Some((decimal, binary)) = lookalike_suffix(suffix) {
            return format!(
                "`{suffix}` is not a Kubernetes suffix: write \"{number}{binary}\" (powers of 1024) or \"{number}{decimal}\" (powers of 1000)"
            );
        }
        if suffix.eq_ignore_ascii_case("b") {
            return format!("sizes are in bytes already: write {number:?}");
        }
    }
    format!("{error}; write e.g. \"512Mi\" or \"1Gi\"")
}

/// Suffixes people write for bytes that Kubernetes does not know (`MB`,
/// `gb`, `K`, `GiB`), as (decimal, binary) Kubernetes suffixes.
fn lookalike_suffix(suffix: &str) -> Option<(&'static str, &'static str)> {
    let lower = suffix.to_ascii_lowercase();
    let stem = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .or_else(|| lower.strip_suffix('i'))
        .unwrap_or(&lower);
    Some(match stem {
        "k" => ("k", "Ki"),
        "m" => ("M", "Mi"),
        "g" => ("G", "Gi"),
        "t" => ("T", "Ti"),
        "p" => ("P", "Pi"),
        "e" => ("E", "Ei"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes() {
        assert_eq!(lookalike_suffix("MB"), Some(("M", "Mi")));
        assert_eq!(lookalike_suffix("GiB"), Some(("G", "Gi")));
        assert_eq!(lookalike_suffix("K"), Some(("k", "Ki")));
        assert_eq!(lookalike_suffix("kb"), Some(("k", "Ki")));
        assert_eq!(lookalike_suffix("gi"), Some(("G", "Gi")));
        assert_eq!(lookalike_suffix("bytes"), None);
        assert_eq!(lookalike_suffix("x"), None);
    }

    #[test]
    fn help_texts() {
        let help = |v: &str| parse_help(v, &Quantity::parse(v).unwrap_err());
        assert_eq!(
            help("500MB"),
            "`MB` is not a Kubernetes suffix: write \"500Mi\" (powers of 1024) or \"500M\" (powers of 1000)"
        );
        assert_eq!(help("1 Gi"), "remove the spaces: \"1Gi\"");
        assert_eq!(help("1024B"), "sizes are in bytes already: write \"1024\"");
        assert!(help("lots").starts_with("a quantity starts with a number"));
    }
}
