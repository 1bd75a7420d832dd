//! Deploy versions: `bundle deploy` imports under a generated version so
//! repeated deploys never collide.

/// The version a deploy at `unix_seconds` (UTC) gives to `version`:
/// `<Version>-<yyyymmddHHMMSS>`, or `<Version>.<yyyymmddHHMMSS>` when the
/// version already has a prerelease part (so the result stays a valid
/// semantic version that sorts after its base).
///
/// ```
/// use q8s_core::bundle::deploy_version;
/// // 2020-10-13 06:28:03 UTC
/// assert_eq!(deploy_version("0.1.2", 1_602_570_483), "0.1.2-20201013062803");
/// assert_eq!(deploy_version("1.0.0-rc.1", 1_602_570_483), "1.0.0-rc.1.20201013062803");
/// ```
pub fn deploy_version(version: &str, unix_seconds: i64) -> String {
    let stamp = utc_stamp(unix_seconds);
    let has_prerelease = version
        .split_once('+')
        .map_or(version, |(v, _)| v)
        .contains('-');
    if has_prerelease {
        format!("{version}.{stamp}")
    } else {
        format!("{version}-{stamp}")
    }
}

/// `yyyymmddHHMMSS` in UTC for a Unix time.
pub fn utc_stamp(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), so the crate needs no date library.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_known_instants() {
        assert_eq!(utc_stamp(0), "19700101000000");
        assert_eq!(utc_stamp(951_782_400), "20000229000000"); // leap day
        assert_eq!(utc_stamp(1_602_570_483), "20201013062803");
        assert_eq!(utc_stamp(4_102_444_799), "20991231235959");
    }

    #[test]
    fn deploy_versions_are_semver_and_sort_after_the_base() {
        for base in ["0.1.2", "1.0.0-rc.1", "2.3.4-alpha"] {
            let v = deploy_version(base, 1_602_570_483);
            let parsed = semver::Version::parse(&v).unwrap();
            assert!(parsed.build.is_empty());
            if base.contains('-') {
                assert!(parsed > semver::Version::parse(base).unwrap(), "{v}");
            }
        }
    }

    #[test]
    fn longest_allowed_version_fits_in_63_chars() {
        let base = format!("1.0.0-{}", "a".repeat(42));
        assert_eq!(base.len(), 48);
        assert_eq!(deploy_version(&base, 0).len(), 63);
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::deploy_version;
    use crate::manifest::validate_manifest;

    fn manifest_with_version(version: &str) -> String {
        format!("[App]\nName = \"a\"\nVersion = \"{version}\"\n[Runtime]\nModule = \"m\"\n")
    }

    #[test]
    fn a_deploy_of_the_longest_version_is_still_valid() {
        let base = format!("1.0.0-{}", "a".repeat(42));
        assert!(validate_manifest(&manifest_with_version(&base)).is_valid());
        let deployed = deploy_version(&base, 1_602_570_483);
        assert_eq!(deployed.len(), 63);
        assert!(validate_manifest(&manifest_with_version(&deployed)).is_valid());
        // Without a deploy stamp, 49 characters are too many.
        let long = format!("{base}b");
        assert!(!validate_manifest(&manifest_with_version(&long)).is_valid());
    }
}
