//! Which stores the test servers use: `Q8S_TEST_BACKEND=sqlite+folder` (the default: SQLite
//! and a folder in the data directory) or `postgres+s3` (each server on a fresh database of
//! the test run's PostgreSQL cluster and a bucket of its own on moto; `make test-scale` runs
//! the API suite so). One moto per test process at most, shared by that process's servers
//! and stopped with the last of them.

use std::sync::{Arc, Mutex, Weak};

use q8s_testing::s3::MotoServer;

/// The variable that picks the stores.
pub const VARIABLE: &str = "Q8S_TEST_BACKEND";

/// Whether test servers run on PostgreSQL + S3.
pub fn postgres_and_s3() -> bool {
    match std::env::var(VARIABLE).as_deref() {
        Err(_) | Ok("") | Ok("sqlite+folder") => false,
        Ok("postgres+s3") => true,
        Ok(other) => panic!("{VARIABLE}={other}: use sqlite+folder (the default) or postgres+s3"),
    }
}

static MOTO: Mutex<Weak<MotoServer>> = Mutex::new(Weak::new());

/// The stores of one test server on PostgreSQL + S3: the arguments naming them, the moto
/// they need alive.
#[derive(Clone)]
pub struct Stores {
    /// `--database …` and/or `--blob-store …`.
    pub args: Vec<String>,
    /// The process's moto (kept running while a server uses it) and the server's bucket.
    pub bucket: Option<(Arc<MotoServer>, String)>,
}

impl Stores {
    /// SQLite and the folder in the data directory.
    pub fn local() -> Stores {
        Stores {
            args: Vec::new(),
            bucket: None,
        }
    }
}

/// What `args` lack of PostgreSQL + S3 when the backend asks for it (a test that names its
/// own `--database` or `--blob-store` keeps it): a fresh database, a new bucket.
pub fn stores_for(args: &[&str]) -> Stores {
    let mut stores = Stores::local();
    if !postgres_and_s3() {
        return stores;
    }
    if !args.contains(&"--database") {
        stores.args.push("--database".into());
        stores.args.push(q8s_testing::postgres::fresh_database());
    }
    if !args.contains(&"--blob-store") {
        let moto = {
            let mut shared = MOTO.lock().unwrap();
            match shared.upgrade() {
                Some(moto) => moto,
                None => {
                    let moto = Arc::new(MotoServer::start());
                    *shared = Arc::downgrade(&moto);
                    moto
                }
            }
        };
        let bucket = moto.new_bucket();
        stores.args.push("--blob-store".into());
        stores.args.push(moto.url_of(&bucket));
        stores.bucket = Some((moto, bucket));
    }
    stores
}
