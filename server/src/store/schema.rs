//! Applying a store's migrations and saying which: what `q8s-server migrate` reports and
//! `q8s-server check` looks at. Both SQL stores keep their migrations in sqlx's table; this
//! drives sqlx's [`Migrate`] steps on one connection so the caller learns which migrations it
//! applied (sqlx's `Migrator::run` does not say), under the same lock (an advisory lock on
//! PostgreSQL), so replicas and `migrate` runs started together apply each migration once.

use std::collections::HashMap;

use sqlx::migrate::{Migrate, MigrateError, Migrator};

use super::{StoreError, StoreResult};

/// sqlx's table of applied migrations (its default; the stores never change it).
const TABLE: &str = "_sqlx_migrations";

/// A migration as people read it: `0002 app names`.
fn label(migration: &sqlx::migrate::Migration) -> String {
    format!(
        "{:04} {}",
        migration.version,
        migration.description.replace('_', " ")
    )
}

fn failed(e: MigrateError) -> StoreError {
    StoreError::Database(format!("migrating: {e}"))
}

/// Applies the migrations of `migrator` that `conn`'s database lacks, holding the migration
/// lock throughout; returns those it applied, oldest first (empty: the schema was up to
/// date). Refuses a database whose applied migrations differ from this build's (a changed
/// file, or a newer server's migration).
pub(super) async fn apply<C: Migrate>(
    migrator: &Migrator,
    conn: &mut C,
) -> StoreResult<Vec<String>> {
    conn.lock().await.map_err(failed)?;
    let result = apply_locked(migrator, conn).await;
    // The lock is the session's: released here, or when the connection closes on an error.
    let unlocked = conn.unlock().await.map_err(failed);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked<C: Migrate>(migrator: &Migrator, conn: &mut C) -> StoreResult<Vec<String>> {
    conn.ensure_migrations_table(TABLE).await.map_err(failed)?;
    if let Some(version) = conn.dirty_version(TABLE).await.map_err(failed)? {
        return Err(StoreError::Database(format!(
            "migration {version:04} failed half-way in an earlier run: repair the database by \
             hand (see docs/scale-out.md) before starting again"
        )));
    }
    let pending = unapplied(migrator, conn).await?;
    let mut applied = Vec::new();
    for migration in pending {
        conn.apply(TABLE, migration).await.map_err(failed)?;
        applied.push(label(migration));
    }
    Ok(applied)
}

/// The migrations of `migrator` not applied to `conn`'s database yet, without writing
/// anything; `conn`'s database has sqlx's table (see [`all`] otherwise).
pub(super) async fn pending<C: Migrate>(
    migrator: &Migrator,
    conn: &mut C,
) -> StoreResult<Vec<String>> {
    Ok(unapplied(migrator, conn)
        .await?
        .into_iter()
        .map(label)
        .collect())
}

/// Every migration of `migrator`: what a database without sqlx's table lacks.
pub(super) fn all(migrator: &Migrator) -> Vec<String> {
    migrator.iter().filter(|m| is_up(m)).map(label).collect()
}

fn is_up(migration: &sqlx::migrate::Migration) -> bool {
    !migration.migration_type.is_down_migration()
}

/// The up migrations the database lacks, after checking that those it has are this build's.
async fn unapplied<'m, C: Migrate>(
    migrator: &'m Migrator,
    conn: &mut C,
) -> StoreResult<Vec<&'m sqlx::migrate::Migration>> {
    let done: HashMap<i64, _> = conn
        .list_applied_migrations(TABLE)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|m| (m.version, m.checksum))
        .collect();
    for version in done.keys() {
        if !migrator.version_exists(*version) {
            return Err(StoreError::Database(format!(
                "the database has migration {version:04}, which this server does not know: \
                 it was migrated by a newer q8s-server"
            )));
        }
    }
    let mut missing = Vec::new();
    for migration in migrator.iter().filter(|m| is_up(m)) {
        match done.get(&migration.version) {
            Some(checksum) if *checksum != migration.checksum => {
                return Err(StoreError::Database(format!(
                    "migration {} was applied with other contents than this server's",
                    label(migration)
                )));
            }
            Some(_) => {}
            None => missing.push(migration),
        }
    }
    Ok(missing)
}
