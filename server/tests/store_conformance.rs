//! The stores' conformance suite (`q8s_server::store::conformance`) against SQLite: each check
//! gets a database file of its own in a temporary directory.

use q8s_server::store::conformance::{self, Subject};
use q8s_server::store::{SqliteStore, Stores};
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
