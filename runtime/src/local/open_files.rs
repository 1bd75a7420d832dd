//! The open-file limit. Each running instance holds about a dozen of the server's descriptors
//! (its log, the pipes of Qd's and the app's output, a pidfd per process it watches, its network
//! namespace) besides the proxy's connections, so the common soft limit of 1024 (systemd's
//! default for services) would stop a server near 70 instances. The server raises its soft limit
//! to the hard one as it starts ([`raise_open_file_limit`]); every sandboxed process gets back
//! the soft limit the server started with ([`restore_in_child`]), so apps and installs see the
//! limits they would have had without the raise.

use std::io;
use std::sync::OnceLock;

/// The soft limit the process started with, once [`raise_open_file_limit`] has raised it.
static STARTED_WITH: OnceLock<libc::rlim_t> = OnceLock::new();

/// What [`raise_open_file_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now (the hard limit, or `was` when that was already the hard one).
    pub now: u64,
}

fn get() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `limit` and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// Raises this process's soft limit of open files to its hard limit (once; a second call
/// changes nothing), remembering the first for the sandboxed processes it will start.
pub fn raise_open_file_limit() -> io::Result<OpenFileLimit> {
    let mut limit = get()?;
    let was = limit.rlim_cur;
    let first = *STARTED_WITH.get_or_init(|| was);
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads `limit` only.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(OpenFileLimit {
        was: first,
        now: limit.rlim_cur,
    })
}

/// Between fork and exec of a sandboxed process: its soft limit back to the one the server
/// started with (nothing when the server never raised it). Raw syscalls only.
pub(crate) fn restore_in_child() -> io::Result<()> {
    let Some(&soft) = STARTED_WITH.get() else {
        return Ok(());
    };
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a local struct; async-signal-safe.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = soft.min(limit.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
