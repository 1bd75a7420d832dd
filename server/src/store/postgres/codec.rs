//! Conversions between records and PostgreSQL column values: [`Ts`] carries an
//! [`OffsetDateTime`] as `timestamptz`, and database errors become [`StoreError`]s.
//!
//! sqlx's own `time` support needs a newer `time` than the workspace's minimum Rust allows, so
//! the one type the store needs is encoded here, in PostgreSQL's binary form (microseconds
//! since 2000-01-01 UTC). Times are kept to the millisecond, as on SQLite, so a record reads
//! back equal on either store.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use time::OffsetDateTime;

use crate::store::{Conflict, StoreError};

/// A `timestamptz` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ts(pub OffsetDateTime);

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix microseconds.
const PG_EPOCH_UNIX_MICROS: i128 = 946_684_800_000_000;

impl Ts {
    /// `t` to the millisecond.
    pub fn new(t: OffsetDateTime) -> Ts {
        Ts(t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
            .unwrap_or(t))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("timestamptz")
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        let micros = self.0.unix_timestamp_nanos() / 1_000 - PG_EPOCH_UNIX_MICROS;
        let micros = i64::try_from(micros).map_err(|_| format!("{} is out of range", self.0))?;
        buf.extend_from_slice(&micros.to_be_bytes());
        Ok(IsNull::No)
    }

    fn size_hint(&self) -> usize {
        std::mem::size_of::<i64>()
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() != PgValueFormat::Binary {
            return Err("timestamptz in text form (the store reads binary results)".into());
        }
        let bytes: [u8; 8] = value
            .as_bytes()?
            .try_into()
            .map_err(|_| "timestamptz is not 8 bytes")?;
        let micros = i128::from(i64::from_be_bytes(bytes)) + PG_EPOCH_UNIX_MICROS;
        Ok(Ts(OffsetDateTime::from_unix_timestamp_nanos(
            micros * 1_000,
        )?))
    }
}

/// Now, in UTC, to the millisecond.
pub(super) fn now() -> Ts {
    Ts::new(OffsetDateTime::now_utc())
}

/// A database error as a [`StoreError`]: `disk_full` (53100) as [`StoreError::Full`].
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("53100") => StoreError::Full,
        _ => StoreError::Database(e.to_string()),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `conflict`.
pub(super) fn conflict_as(conflict: Conflict) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(conflict),
        _ => db_err(e),
    }
}

/// A value as JSON text, for a `jsonb` column (bound as text and cast with `::jsonb`).
pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(e.to_string()))
}

/// A `jsonb` column read as text (`::text` in the query).
pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}
