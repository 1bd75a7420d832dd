//! Times as text: RFC 3339 in UTC with milliseconds, fixed width. The one form of the API's
//! `created_at`/`updated_at` and of the store's time columns, whose text order is time order.

use time::OffsetDateTime;

/// `2026-12-04T23:35:12.345Z`: RFC 3339, UTC, milliseconds, always 24 characters.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_width_utc_with_milliseconds() {
        for (t, text) in [
            (
                datetime!(2026-12-04 23:35:12.345 UTC),
                "2026-12-04T23:35:12.345Z",
            ),
            (
                datetime!(2026-01-02 03:04:05 UTC),
                "2026-01-02T03:04:05.000Z",
            ),
            (
                datetime!(2026-01-02 01:00:00.5 +02:00),
                "2026-01-01T23:00:00.500Z",
            ),
        ] {
            assert_eq!(rfc3339(t), text);
            assert_eq!(rfc3339(t).len(), 24);
        }
    }
}
