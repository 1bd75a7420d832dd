//! Conversions between records and SQLite column values: UUIDs and RFC 3339 times as text.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::store::{Conflict, StoreError};
pub(super) use crate::timestamp::rfc3339 as fmt_time;

/// Now, in UTC, to the millisecond (what the text form keeps).
pub(super) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now)
}

pub(super) fn parse_time(text: String) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("time {text}: {e}")))
}

pub(super) fn parse_uuid(text: String) -> Result<Uuid, StoreError> {
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("id {text}: {e}")))
}

pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    // SQLITE_FULL (13): the disk holding the database is full.
    let full = match &e {
        sqlx::Error::Database(d) => d.code().as_deref() == Some("13"),
        sqlx::Error::Io(io) => crate::error::is_disk_full(io),
        _ => false,
    };
    if full {
        StoreError::Full
    } else {
        StoreError::Database(e.to_string())
    }
}

/// A value as the JSON text a column holds.
pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `conflict`.
pub(super) fn conflict_as(conflict: Conflict) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(conflict),
        _ => db_err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let a = now();
        let b = a + time::Duration::milliseconds(1500);
        assert_eq!(parse_time(fmt_time(a)).unwrap(), a);
        assert!(fmt_time(a) < fmt_time(b));
        assert!(fmt_time(a).ends_with('Z'));
    }
}
