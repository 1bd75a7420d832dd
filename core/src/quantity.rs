//! Kubernetes resource quantities (`500Mi`, `1G`, `1.5Gi`, `1e3`, `400m`).
//!
//! The grammar is Kubernetes' own (`k8s.io/apimachinery` `resource.Quantity`):
//!
//! ```text
//! quantity  ::= sign? number suffix
//! sign      ::= "+" | "-"
//! number    ::= digits | digits "." digits? | "." digits
//! suffix    ::= "" | "m" | "k" | "M" | "G" | "T" | "P" | "E"      (decimal SI)
//!             | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"         (binary SI)
//!             | ("e" | "E") sign? digits                         (decimal exponent)
//! ```
//!
//! Values are kept exactly (significant decimal digits and powers of ten and
//! two), never as floating point, so `0.1Gi` or `1000m` give the exact byte
//! count or say precisely why there is none.
//!
//! ```
//! use q8s_core::quantity::{Quantity, BytesError};
//!
//! assert_eq!(Quantity::parse("500Mi").unwrap().whole_bytes(), Some(500 * 1024 * 1024));
//! assert_eq!(Quantity::parse("1e3").unwrap().whole_bytes(), Some(1000));
//! assert_eq!(Quantity::parse("1000m").unwrap().whole_bytes(), Some(1));
//! // `m` is milli: 400m is 0.4 bytes.
//! assert_eq!(Quantity::parse("400m").unwrap().to_whole_bytes(), Err(BytesError::Fractional));
//! assert_eq!(Quantity::parse("500MB").unwrap_err().code(), "invalid-quantity");
//! ```

use std::fmt;
use std::str::FromStr;

/// The suffix of a quantity, which scales its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// No suffix: the number itself.
    None,
    /// `m`, 10⁻³.
    Milli,
    /// `k`, 10³.
    Kilo,
    /// `M`, 10⁶.
    Mega,
    /// `G`, 10⁹.
    Giga,
    /// `T`, 10¹².
    Tera,
    /// `P`, 10¹⁵.
    Peta,
    /// `E`, 10¹⁸.
    Exa,
    /// `Ki`, 2¹⁰.
    Kibi,
    /// `Mi`, 2²⁰.
    Mebi,
    /// `Gi`, 2³⁰.
    Gibi,
    /// `Ti`, 2⁴⁰.
    Tebi,
    /// `Pi`, 2⁵⁰.
    Pebi,
    /// `Ei`, 2⁶⁰.
    Exbi,
    /// `e<n>` or `E<n>`, 10ⁿ.
    Exponent(i32),
}

impl Suffix {
    /// The suffix for its text (`Mi`, `k`…), not for exponents.
    fn from_si(text: &str) -> Option<Suffix> {
        Some(match text {
            "" => Suffix::None,
            "m" => Suffix::Milli,
            "k" => Suffix::Kilo,
            "M" => Suffix::Mega,
            "G" => Suffix::Giga,
            "T" => Suffix::Tera,
            "P" => Suffix::Peta,
            "E" => Suffix::Exa,
            "Ki" => Suffix::Kibi,
            "Mi" => Suffix::Mebi,
            "Gi" => Suffix::Gibi,
            "Ti" => Suffix::Tebi,
            "Pi" => Suffix::Pebi,
            "Ei" => Suffix::Exbi,
            _ => return None,
        })
    }

    /// The scale as `(power of ten, power of two)`.
    fn scale(self) -> (i64, u8) {
        match self {
            Suffix::None => (0, 0),
            Suffix::Milli => (-3, 0),
            Suffix::Kilo => (3, 0),
            Suffix::Mega => (6, 0),
            Suffix::Giga => (9, 0),
            Suffix::Tera => (12, 0),
            Suffix::Peta => (15, 0),
            Suffix::Exa => (18, 0),
            Suffix::Kibi => (0, 10),
            Suffix::Mebi => (0, 20),
            Suffix::Gibi => (0, 30),
            Suffix::Tebi => (0, 40),
            Suffix::Pebi => (0, 50),
            Suffix::Exbi => (0, 60),
            Suffix::Exponent(e) => (i64::from(e), 0),
        }
    }
}

/// Why a text is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is empty.
    #[error("a quantity cannot be empty")]
    Empty,
    /// No digit before the suffix (`Mi`, `-`, `.`).
    #[error("a quantity starts with a number")]
    MissingNumber,
    /// Text after the number that is not a suffix (`MB`, ` Gi`, `1.2.3`).
    #[error(
        "`{suffix}` is not a quantity suffix (use k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or m)"
    )]
    InvalidSuffix {
        /// Everything after the number.
        suffix: String,
    },
    /// An `e`/`E` exponent without a whole number after it (`1e`, `1e+`, `1e1.5`).
    #[error("`{exponent}` is not a decimal exponent such as `e9`")]
    InvalidExponent {
        /// The exponent part, from `e`/`E` on.
        exponent: String,
    },
    /// An exponent beyond ±2147483647.
    #[error("the exponent is out of range")]
    ExponentOutOfRange,
}

impl QuantityError {
    /// Stable kebab-case code: `invalid-quantity`, or `quantity-out-of-range`
    /// for an exponent beyond ±2147483647.
    pub fn code(&self) -> &'static str {
        match self {
            QuantityError::ExponentOutOfRange => "quantity-out-of-range",
            _ => "invalid-quantity",
        }
    }
}

/// Why a quantity is not a whole number of bytes that fits a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    /// Below zero.
    #[error("the quantity is negative")]
    Negative,
    /// Not a whole number (`400m`, `1.5`, `1e-3`).
    #[error("the quantity is not a whole number of bytes")]
    Fractional,
    /// More than `u64::MAX` (18446744073709551615) bytes.
    #[error("the quantity is larger than 18446744073709551615 bytes")]
    TooLarge,
}

impl BytesError {
    /// Stable kebab-case code: `negative-quantity`, `fractional-bytes` or
    /// `quantity-out-of-range`.
    pub fn code(&self) -> &'static str {
        match self {
            BytesError::Negative => "negative-quantity",
            BytesError::Fractional => "fractional-bytes",
            BytesError::TooLarge => "quantity-out-of-range",
        }
    }
}

/// A Kubernetes quantity, kept exactly as
/// `± digits × 10^exp10 × 2^exp2`.
///
/// Equality compares the text as written: `1Ki` and `1024` are different
/// quantities with the same [`whole_bytes`](Quantity::whole_bytes).
///
/// ```
/// use q8s_core::quantity::{Quantity, Suffix};
///
/// let q: Quantity = "1.5Gi".parse().unwrap();
/// assert_eq!(q.suffix(), Suffix::Gibi);
/// assert_eq!(q.whole_bytes(), Some(1_610_612_736));
/// assert_eq!(q.to_string(), "1.5Gi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quantity {
    text: String,
    negative: bool,
    /// Significant decimal digits (ASCII), without leading or trailing
    /// zeros; empty for zero.
    digits: String,
    exp10: i64,
    exp2: u8,
    suffix: Suffix,
}

impl Quantity {
    /// Parses a quantity in Kubernetes' syntax. Surrounding spaces are an
    /// error, as in Kubernetes.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes[0] {
            b'-' => {
                i = 1;
                true
            }
            b'+' => {
                i = 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[int_start..i];
        let mut frac_part = "";
        if i < bytes.len() && bytes[i] == b'.' {
            let frac_start = i + 1;
            i = frac_start;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[frac_start..i];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(QuantityError::MissingNumber);
        }
        let suffix = parse_suffix(&text[i..])?;

        // Significant digits of int_part + frac_part, with the decimal point
        // moved into exp10.
        let all = int_part.bytes().chain(frac_part.bytes());
        let mut digits: String = all.map(char::from).collect();
        let leading = digits.bytes().take_while(|&b| b == b'0').count();
        digits.drain(..leading);
        let trailing = digits.bytes().rev().take_while(|&b| b == b'0').count();
        digits.truncate(digits.len() - trailing);

        let (suffix_exp10, exp2) = suffix.scale();
        let frac_len =
            i64::try_from(frac_part.len()).map_err(|_| QuantityError::ExponentOutOfRange)?;
        let trailing = i64::try_from(trailing).map_err(|_| QuantityError::ExponentOutOfRange)?;
        let exp10 = suffix_exp10 - frac_len + trailing;
        Ok(Quantity {
            text: text.to_string(),
            negative: negative && !digits.is_empty(),
            digits,
            exp10,
            exp2,
            suffix,
        })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The suffix as written.
    pub fn suffix(&self) -> Suffix {
        self.suffix
    }

    /// True for zero, whatever its sign or suffix (`0`, `-0.0Gi`).
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// True below zero (`-0` is zero, not negative).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The exact number of bytes, when the quantity is a whole number from 0
    /// to `u64::MAX`.
    pub fn whole_bytes(&self) -> Option<u64> {
        self.to_whole_bytes().ok()
    }

    /// The exact number of bytes, or why there is none.
    ///
    /// ```
    /// use q8s_core::quantity::{Quantity, BytesError};
    /// let bytes = |s: &str| Quantity::parse(s).unwrap().to_whole_bytes();
    /// assert_eq!(bytes("0.5Ki"), Ok(512));
    /// assert_eq!(bytes("1.5"), Err(BytesError::Fractional));
    /// assert_eq!(bytes("-1Mi"), Err(BytesError::Negative));
    /// assert_eq!(bytes("16Ei"), Err(BytesError::TooLarge));
    /// ```
    pub fn to_whole_bytes(&self) -> Result<u64, BytesError> {
        if self.is_zero() {
            return Ok(0);
        }
        if self.negative {
            return Err(BytesError::Negative);
        }
        // Digits count fits i64: it is bounded by the text length.
        let len = self.digits.len() as i64;
        let (mantissa, exp2) = if self.exp10 >= 0 {
            // value ≥ 10^(len - 1 + exp10); 10^20 > u64::MAX.
            if len - 1 + self.exp10 >= 20 {
                return Err(BytesError::TooLarge);
            }
            let mut m: u128 = parse_u128(&self.digits);
            for _ in 0..self.exp10 {
                m *= 10;
            }
            (m, self.exp2)
        } else {
            // value = digits × 2^exp2 / 10^k. The digits have no trailing
            // zero, so they are not divisible by both 2 and 5: when k > exp2,
            // 10^k would need both and the value is fractional. Otherwise
            // only 5^k has to divide the digits.
            let k = self.exp10.unsigned_abs();
            if k > u64::from(self.exp2) {
                return Err(BytesError::Fractional);
            }
            let mut quotient = self.digits.clone().into_bytes();
            for _ in 0..k {
                if divide_by_5(&mut quotient) != 0 {
                    return Err(BytesError::Fractional);
                }
            }
            let quotient = std::str::from_utf8(&quotient).unwrap_or_default();
            let quotient = quotient.trim_start_matches('0');
            if quotient.len() > 20 {
                return Err(BytesError::TooLarge);
            }
            // k ≤ exp2 ≤ 60 here.
            (parse_u128(quotient), self.exp2 - k as u8)
        };
        // mantissa < 10^20 < 2^67 and exp2 ≤ 60: the shift stays below 2^127.
        u64::try_from(mantissa << exp2).map_err(|_| BytesError::TooLarge)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Quantity::parse(text)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_suffix(rest: &str) -> Result<Suffix, QuantityError> {
    if let Some(suffix) = Suffix::from_si(rest) {
        return Ok(suffix);
    }
    let Some(exponent) = rest.strip_prefix(['e', 'E']) else {
        return Err(QuantityError::InvalidSuffix {
            suffix: rest.to_string(),
        });
    };
    let invalid = || QuantityError::InvalidExponent {
        exponent: rest.to_string(),
    };
    let (negative, digits) = match exponent.as_bytes().first() {
        Some(b'-') => (true, &exponent[1..]),
        Some(b'+') => (false, &exponent[1..]),
        _ => (false, exponent),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let magnitude = digits
        .trim_start_matches('0')
        .parse::<i32>()
        .or_else(|e| match e.kind() {
            std::num::IntErrorKind::Empty => Ok(0),
            _ => Err(QuantityError::ExponentOutOfRange),
        })?;
    Ok(Suffix::Exponent(if negative {
        -magnitude
    } else {
        magnitude
    }))
}

/// Parses at most 20 ASCII digits (callers guarantee it).
fn parse_u128(digits: &str) -> u128 {
    digits
        .bytes()
        .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'))
}

/// Divides a big decimal number (ASCII digits) by 5 in place; returns the
/// remainder.
fn divide_by_5(digits: &mut [u8]) -> u8 {
    let mut carry = 0u8;
    for d in digits.iter_mut() {
        let cur = carry * 10 + (*d - b'0');
        *d = b'0' + cur / 5;
        carry = cur % 5;
    }
    carry
}

/// Bytes as a binary quantity, for messages: exact when a unit divides them into a short
/// number (`1Gi`, `1536Mi`), else to a tenth (`23.5Gi`); below a kibibyte, the plain number.
/// The server's memory and volume messages and the manifest's capacity check say sizes so.
///
/// ```
/// use q8s_core::quantity::binary_size;
/// assert_eq!(binary_size(1536 << 20), "1536Mi");
/// assert_eq!(binary_size((1536 << 20) + 1), "1.5Gi");
/// ```
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("Ei", 1 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    let exact =
        |(_, size): &&(&str, u64)| bytes >= *size && bytes % size == 0 && bytes / size < 10_000;
    if let Some((unit, size)) = UNITS.iter().find(exact) {
        return format!("{}{unit}", bytes / size);
    }
    match UNITS.iter().find(|(_, s)| bytes >= *s) {
        Some((unit, size)) => format!("{:.1}{unit}", bytes as f64 / *size as f64),
        None => bytes.to_string(),
    }
}

#[cfg(test)]
mod tests;
