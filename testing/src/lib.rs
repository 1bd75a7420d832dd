//! Test support shared by the integration tests of `q8s-server` and `q8s-cli`.
//!
//! - [`ServerProcess`]: a REAL `q8s-server` process on a free loopback port with a temporary
//!   data directory, waited for until `/readyz` answers, killed (and its volumes unmounted)
//!   when dropped. Each crate's `tests/common` wraps it with the client it tests with: async
//!   `reqwest` calls for the server's API tests, `q8s-cli` runs for the CLI's.
//! - [`apps`]: app folders and bundles built from `examples/hello`.
//! - [`fs`]: files and mount points under a folder.
//! - [`postgres`]: a throw-away PostgreSQL cluster shared by the test processes of a run, a
//!   fresh database per test.
//! - [`s3`]: moto's S3 server on a free loopback port, for the server on a bucket.
//!
//! Nothing here is a double: the server, the sandbox and the bundles are the real ones.

pub mod apps;
pub mod fs;
pub mod postgres;
pub mod probe;
pub mod process;
pub mod s3;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use server::{ServerProcess, server_binary_beside};

/// The repository's root: the workspace (the folder with `Cargo.lock`) of the package under
/// test, which cargo names at run time. The folder this crate was compiled in comes last: a
/// target directory shared by clones at other paths may hold this crate compiled in another.
pub fn repo_root() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    running
        .iter()
        .map(PathBuf::as_path)
        .chain([compiled])
        .flat_map(Path::ancestors)
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or_else(|| {
            compiled
                .parent()
                .expect("testing/ is inside the repository")
        })
        .to_path_buf()
}

/// A free loopback port (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a bound address").port()
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `timeout`; panics naming `what`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
