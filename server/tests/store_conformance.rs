//! The stores' conformance suite (`q8s_server::store::conformance`) against SQLite and
//! PostgreSQL: each check gets a database of its own (a SQLite file in a temporary directory, or
//! a fresh database on the throw-away cluster of `q8s_testing::postgres`).

use q8s_server::store::conformance::{self, Subject};
use q8s_server::store::{PoolSettings, PostgresStore, SqliteStore, Stores};
use std::sync::Arc;

/// A SQLite database file in a temporary directory.
struct Sqlite {
    url: String,
    _dir: tempfile::TempDir,
}

async fn fresh() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q8s.db").display());
    Sqlite { url, _dir: dir }
}

#[async_trait::async_trait]
impl Subject for Sqlite {
    async fn open(&self) -> Stores {
        Stores::new(Arc::new(SqliteStore::open(&self.url).await.unwrap()))
    }
}

#[tokio::test]
async fn accounts() {
    conformance::accounts(fresh).await;
}

#[tokio::test]
async fn sessions() {
    conformance::sessions(fresh).await;
}

#[tokio::test]
async fn catalog() {
    conformance::catalog(fresh).await;
}

#[tokio::test]
async fn secrets() {
    conformance::secrets(fresh).await;
}

#[tokio::test]
async fn cluster() {
    conformance::cluster(fresh).await;
}

#[tokio::test]
async fn paging() {
    conformance::paging(fresh).await;
}

/// A database of its own on the test process's throw-away PostgreSQL cluster.
struct Postgres {
    url: String,
}

async fn fresh_postgres() -> Postgres {
    let url = tokio::task::spawn_blocking(q8s_testing::postgres::fresh_database)
        .await
        .unwrap();
    Postgres { url }
}

#[async_trait::async_trait]
impl Subject for Postgres {
    async fn open(&self) -> Stores {
        let store = PostgresStore::open(&self.url, PoolSettings::default())
            .await
            .unwrap();
        Stores::new(Arc::new(store))
    }
}

#[tokio::test]
async fn postgres_accounts() {
    conformance::accounts(fresh_postgres).await;
}

#[tokio::test]
async fn postgres_sessions() {
    conformance::sessions(fresh_postgres).await;
}

#[tokio::test]
async fn postgres_catalog() {
    conformance::catalog(fresh_postgres).await;
}

#[tokio::test]
async fn postgres_secrets() {
    conformance::secrets(fresh_postgres).await;
}

#[tokio::test]
async fn postgres_cluster() {
    conformance::cluster(fresh_postgres).await;
}

#[tokio::test]
async fn postgres_paging() {
    conformance::paging(fresh_postgres).await;
}
