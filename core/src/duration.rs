//! Durations as people write them in settings and manifests: `30m`, `1h30m`, `90s`, `2d`, or a
//! number of seconds.
//!
//! ```
//! use std::time::Duration;
//! use q8s_core::duration::{format, parse};
//!
//! assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
//! assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
//! assert_eq!(format(Duration::from_secs(5400)), "1h30m");
//! assert!(parse("30 minutes").is_err());
//! ```

use std::time::Duration;

/// The units, largest first, with their length in seconds.
const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

/// Parses a duration: one or more `<whole number><unit>` parts (`d`, `h`, `m`, `s`, each at most
/// once and largest first, e.g. `1h30m`), or a bare number of seconds. The error says what is
/// wrong, for a message that quotes the value.
pub fn parse(text: &str) -> Result<Duration, String> {
    let example = "write e.g. 30m, 1h30m, 90s or a number of seconds";
    if text.is_empty() {
        return Err(format!("is empty; {example}"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| "is too long".to_owned());
    }
    let mut rest = text;
    let mut seconds: u64 = 0;
    // The index in UNITS the next part's unit must come after.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("is not a duration; {example}"));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("has an unknown unit `{unit}`; use d, h, m or s"));
        };
        if index < next_unit {
            return Err(
                "repeats or misorders its units (write them largest first, e.g. 1h30m)".into(),
            );
        }
        next_unit = index + 1;
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[index].1));
        seconds = part
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(|| "is too long".to_owned())?;
        rest = after;
    }
    Ok(Duration::from_secs(seconds))
}

/// A duration the way [`parse`] reads it, in whole seconds (`0s` for less than a second).
pub fn format(duration: Duration) -> String {
    let mut left = duration.as_secs();
    if left == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, length) in UNITS {
        if left >= length {
            out.push_str(&(left / length).to_string());
            out.push_str(name);
            left %= length;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format_back() {
        for (text, seconds) in [
            ("0", 0),
            ("2s", 2),
            ("30m", 1800),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("1d2h3m4s", 93_784),
            ("90s", 90),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(seconds)), "{text}");
        }
        for seconds in [1, 59, 60, 61, 3600, 5400, 86_400, 93_784] {
            let duration = Duration::from_secs(seconds);
            assert_eq!(parse(&format(duration)), Ok(duration), "{seconds}");
        }
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_millis(400)), "0s");
    }

    #[test]
    fn bad_durations_say_why() {
        for (text, why) in [
            ("", "is empty"),
            ("m", "is not a duration"),
            ("30 minutes", "unknown unit ` minutes`"),
            ("1.5h", "unknown unit `.`"),
            ("30M", "unknown unit `M`"),
            ("30m1h", "misorders"),
            ("1m1m", "repeats"),
            ("-5s", "is not a duration"),
            (" 90", "is not a duration"),
            ("90 ", "unknown unit ` `"),
            ("99999999999999999999", "too long"),
            ("999999999999999d", "too long"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
