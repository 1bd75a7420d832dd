//! Unit tests of quantity parsing and exact byte counts.

use super::*;

fn bytes(text: &str) -> Result<u64, BytesError> {
    Quantity::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_whole_bytes()
}

#[test]
fn plain_and_decimal_suffixes() {
    for (text, want) in [
        ("0", Ok(0)),
        ("1", Ok(1)),
        ("+7", Ok(7)),
        ("1k", Ok(1_000)),
        ("1M", Ok(1_000_000)),
        ("2G", Ok(2_000_000_000)),
        ("3T", Ok(3_000_000_000_000)),
        ("4P", Ok(4_000_000_000_000_000)),
        ("5E", Ok(5_000_000_000_000_000_000)),
        ("1000m", Ok(1)),
        ("123000m", Ok(123)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
}

#[test]
fn binary_suffixes() {
    for (text, want) in [
        ("1Ki", Ok(1 << 10)),
        ("500Mi", Ok(500 << 20)),
        ("1Gi", Ok(1 << 30)),
        ("1Ti", Ok(1 << 40)),
        ("1Pi", Ok(1 << 50)),
        ("15Ei", Ok(15 << 60)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
}

#[test]
fn decimals_are_exact() {
    for (text, want) in [
        ("1.5Gi", Ok(3 << 29)),
        ("0.5Ki", Ok(512)),
        (".5Ki", Ok(512)),
        ("5.", Ok(5)),
        ("0.001k", Ok(1)),
        ("1.000", Ok(1)),
        ("00012.50k", Ok(12_500)),
        ("0.1Gi", Err(BytesError::Fractional)),
        ("0.25Ki", Ok(256)),
        ("0.0009765625Ki", Ok(1)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
    // 2^-60 Ei is exactly one byte, with 42 significant digits.
    assert_eq!(
        bytes("0.000000000000000000867361737988403547205962240695953369140625Ei"),
        Ok(1)
    );
    assert_eq!(
        bytes("0.000000000000000000867361737988403547205962240695953369140624Ei"),
        Err(BytesError::Fractional)
    );
}

#[test]
fn exponents() {
    for (text, want) in [
        ("1e3", Ok(1_000)),
        ("1E3", Ok(1_000)),
        ("1e+3", Ok(1_000)),
        ("1000e-3", Ok(1)),
        ("1e0", Ok(1)),
        ("12e00", Ok(12)),
        ("1e-3", Err(BytesError::Fractional)),
        ("1e19", Ok(10_000_000_000_000_000_000)),
        ("1e20", Err(BytesError::TooLarge)),
        ("1e2147483647", Err(BytesError::TooLarge)),
        ("1e-2147483647", Err(BytesError::Fractional)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
    assert_eq!(
        Quantity::parse("2e5").unwrap().suffix(),
        Suffix::Exponent(5)
    );
    // A lone `E` is exa, not an exponent.
    assert_eq!(Quantity::parse("1E").unwrap().suffix(), Suffix::Exa);
}

#[test]
fn fractions_and_signs() {
    for (text, want) in [
        ("400m", Err(BytesError::Fractional)),
        ("1.5", Err(BytesError::Fractional)),
        ("1001m", Err(BytesError::Fractional)),
        ("-1", Err(BytesError::Negative)),
        ("-0.5Mi", Err(BytesError::Negative)),
        ("-0", Ok(0)),
        ("0.000Gi", Ok(0)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
    let zero = Quantity::parse("-0.0").unwrap();
    assert!(zero.is_zero() && !zero.is_negative());
    assert!(Quantity::parse("-3k").unwrap().is_negative());
}

#[test]
fn overflow_at_the_u64_boundary() {
    for (text, want) in [
        ("18446744073709551615", Ok(u64::MAX)),
        ("18446744073709551616", Err(BytesError::TooLarge)),
        ("18446744073709551615000m", Ok(u64::MAX)),
        ("16Ei", Err(BytesError::TooLarge)),
    ] {
        assert_eq!(bytes(text), want, "{text}");
    }
    assert_eq!(
        bytes("15.999999999999999999132638262011596452794037759304046630859375Ei"),
        Ok(u64::MAX)
    );
    assert_eq!(bytes("18.446744073709551615E"), Ok(u64::MAX));
    assert_eq!(bytes("18.446744073709551616E"), Err(BytesError::TooLarge));
    assert_eq!(
        bytes("99999999999999999999999999999999"),
        Err(BytesError::TooLarge)
    );
    let long = format!("1{}", "0".repeat(10_000));
    assert_eq!(bytes(&long), Err(BytesError::TooLarge));
    let tiny = format!("0.{}1", "0".repeat(10_000));
    assert_eq!(bytes(&tiny), Err(BytesError::Fractional));
}

#[test]
fn syntax_errors() {
    use QuantityError::*;
    let err = |s: &str| Quantity::parse(s).unwrap_err();
    assert_eq!(err(""), Empty);
    assert_eq!(err("Mi"), MissingNumber);
    assert_eq!(err("-"), MissingNumber);
    assert_eq!(err("."), MissingNumber);
    assert_eq!(err("+.Gi"), MissingNumber);
    assert_eq!(
        err("500MB"),
        InvalidSuffix {
            suffix: "MB".into()
        }
    );
    assert_eq!(
        err("1 Gi"),
        InvalidSuffix {
            suffix: " Gi".into()
        }
    );
    assert_eq!(err(" 1Gi"), MissingNumber);
    assert_eq!(
        err("1Gi "),
        InvalidSuffix {
            suffix: "Gi ".into()
        }
    );
    assert_eq!(err("1K"), InvalidSuffix { suffix: "K".into() });
    assert_eq!(
        err("1ki"),
        InvalidSuffix {
            suffix: "ki".into()
        }
    );
    assert_eq!(
        err("1.2.3"),
        InvalidSuffix {
            suffix: ".3".into()
        }
    );
    assert_eq!(err("--1"), MissingNumber);
    assert_eq!(
        err("1e"),
        InvalidExponent {
            exponent: "e".into()
        }
    );
    assert_eq!(
        err("1e+"),
        InvalidExponent {
            exponent: "e+".into()
        }
    );
    assert_eq!(
        err("1e1.5"),
        InvalidExponent {
            exponent: "e1.5".into()
        }
    );
    assert_eq!(
        err("1e3Mi"),
        InvalidExponent {
            exponent: "e3Mi".into()
        }
    );
    assert_eq!(err("1e2147483648"), ExponentOutOfRange);
    assert_eq!(err("1e-99999999999999999999"), ExponentOutOfRange);
    assert!(Quantity::parse("1e-2147483647").is_ok());
    assert!(Quantity::parse("1e000000000000000000003").is_ok());
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(QuantityError::Empty.code(), "invalid-quantity");
    assert_eq!(
        QuantityError::ExponentOutOfRange.code(),
        "quantity-out-of-range"
    );
    assert_eq!(BytesError::Negative.code(), "negative-quantity");
    assert_eq!(BytesError::Fractional.code(), "fractional-bytes");
    assert_eq!(BytesError::TooLarge.code(), "quantity-out-of-range");
}

#[test]
fn keeps_the_text() {
    let q: Quantity = "0500Mi".parse().unwrap();
    assert_eq!(q.as_str(), "0500Mi");
    assert_eq!(q.to_string(), "0500Mi");
    assert_ne!(q, Quantity::parse("500Mi").unwrap());
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,40}") {
        if let Ok(q) = Quantity::parse(&text) {
            let _ = q.to_whole_bytes();
        }
    }

    #[test]
    fn integers_round_trip(n in 0u64..) {
        proptest::prop_assert_eq!(bytes(&n.to_string()), Ok(n));
        proptest::prop_assert_eq!(bytes(&format!("{n}000m")), Ok(n));
        proptest::prop_assert_eq!(bytes(&format!("{n}e0")), Ok(n));
    }

    #[test]
    fn binary_suffixes_scale_exactly(n in 0u64..1 << 20, shift in 0usize..6) {
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi"][shift];
        let expected = u128::from(n) << (10 * shift);
        let got = bytes(&format!("{n}{suffix}"));
        match u64::try_from(expected) {
            Ok(v) => proptest::prop_assert_eq!(got, Ok(v)),
            Err(_) => proptest::prop_assert_eq!(got, Err(BytesError::TooLarge)),
        }
    }

    #[test]
    fn decimal_point_moves_exactly(n in 0u64..1_000_000_000, places in 0u32..9) {
        // n / 10^places, written with a decimal point, times 10^places (as an exponent).
        let s = format!("{n:0>10}");
        let cut = s.len() - places as usize;
        let text = format!("{}.{}e{places}", &s[..cut], &s[cut..]);
        proptest::prop_assert_eq!(bytes(&text), Ok(n));
    }
}

#[test]
fn byte_counts_read_as_quantities() {
    const MI: u64 = 1 << 20;
    for (bytes, text) in [
        (0, "0"),
        (100, "100"),
        (1000, "1000"),
        (64 * MI, "64Mi"),
        (256 * MI, "256Mi"),
        (1025 * MI, "1025Mi"),
        (1536 * MI, "1536Mi"),
        (1536 * MI + 1, "1.5Gi"),
        (1 << 30, "1Gi"),
        (3 << 30, "3Gi"),
        (25_276_194_816, "23.5Gi"),
        (15 << 60, "15Ei"),
    ] {
        assert_eq!(binary_size(bytes), text, "{bytes}");
    }
}
