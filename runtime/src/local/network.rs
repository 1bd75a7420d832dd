//! Each instance's own network: a network namespace in which Qd, the app (and the
//! environment's install) run, so that nothing an instance does on the network reaches the
//! host's loopback, another instance or the q8s API, and nothing it listens on appears on a
//! host interface.
//!
//! A namespace is held open by a small *holder* process (`sleep`, as the sandbox's host user,
//! in a user namespace of its own so that the unprivileged `slirp4netns` may join it), like the
//! pause container of a Kubernetes pod. Its loopback is up; the sandboxes join the namespace
//! before bubblewrap starts (the server is root).
//!
//! - **Outbound**: `slirp4netns` gives the namespace a route to the internet through the host's
//!   sockets (a user-space TCP/IP stack), with the host's loopback out of reach
//!   (`--disable-host-loopback`). A server setting turns it off: the namespace then has
//!   loopback only.
//! - **Inbound**: nothing is forwarded. The proxy and the health checks create their sockets
//!   inside the namespace ([`NetNs::connect`]: `setns` on the calling thread for the `socket()`
//!   call, then straight back), so a connection to Qd costs what it did over the host's
//!   loopback, with no relay in between.

use std::ffi::CString;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::process::{Child, Command};

use super::confine::HostUser;

/// The address slirp4netns answers DNS queries on (forwarding them to the host's resolver).
pub(crate) const SLIRP_DNS: &str = "10.0.2.3";

/// A network namespace, held open by a descriptor.
#[derive(Debug)]
pub(crate) struct NetNs {
    fd: OwnedFd,
    /// Unique for the server's lifetime (inode numbers are reused once a namespace is gone).
    id: u64,
}

impl NetNs {
    /// Distinguishes this namespace's addresses from the same addresses in other namespaces.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Connects to `addr` inside this namespace.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = self.socket(addr)?;
        socket.connect(addr).await
    }

    /// A TCP socket created inside this namespace (it stays there whichever thread uses it).
    fn socket(&self, addr: SocketAddr) -> io::Result<TcpSocket> {
        self.inside(|| {
            if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
        })
    }

    /// A listener on `addr` inside this namespace (served by the server's own tasks).
    pub(crate) fn listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = self.inside(|| std::net::TcpListener::bind(addr))?;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    /// Runs `make` (which creates a socket, and nothing else) on this thread inside this
    /// namespace, then returns to the host's.
    fn inside<T>(&self, make: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let host = host_netns()?;
        // SAFETY: setns on the calling thread with descriptors we hold; checked below.
        if unsafe { libc::setns(self.fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let made = make();
        // SAFETY: as above. A thread left in an instance's namespace would open the server's
        // own connections there: that must never happen, whatever it costs.
        if unsafe { libc::setns(host.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "q8s-server: cannot return to the host network namespace: {}",
                io::Error::last_os_error()
            );
            std::process::abort();
        }
        made
    }
}

/// The server's own network namespace, opened once (before any thread may have left it).
fn host_netns() -> io::Result<&'static OwnedFd> {
    static HOST: OnceLock<Result<OwnedFd, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::File::open("/proc/self/ns/net")
            .map(OwnedFd::from)
            .map_err(|err| format!("cannot open /proc/self/ns/net: {err}"))
    })
    .as_ref()
    .map_err(|err| io::Error::other(err.clone()))
}

/// Whether this server can give instances namespaces of their own: it runs as root (to join
/// them and switch to the sandbox user) and the kernel offers network namespaces.
pub(crate) fn check(slirp4netns: Option<&Path>) -> Result<(), String> {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the server does not run as root".into());
    }
    // Opening it fails where the kernel has no network namespaces.
    host_netns().map_err(|err| err.to_string())?;
    if let Some(slirp) = slirp4netns {
        let tun = std::fs::metadata("/dev/net/tun")
            .map_err(|err| format!("/dev/net/tun: {err} (slirp4netns needs it)"))?;
        use std::os::unix::fs::PermissionsExt;
        if tun.permissions().mode() & 0o006 != 0o006 {
            return Err(format!(
                "/dev/net/tun is not usable by the sandbox user (mode {:o}; udev's default is 0666: \
                 `chmod 0666 /dev/net/tun`), so {} cannot give instances outbound traffic",
                tun.permissions().mode() & 0o777,
                slirp.display()
            ));
        }
    }
    Ok(())
}

/// An instance's network: the holder of its namespace and, with outbound traffic, its
/// slirp4netns. Both end with the server (parent-death signal) or when dropped.
pub(crate) struct Pod {
    netns: std::sync::Arc<NetNs>,
    holder: Child,
    slirp: Option<Child>,
}

impl Pod {
    /// Creates the namespace (as `user`) with its loopback up and, when `slirp4netns` is
    /// given, outbound traffic (ready when this returns).
    pub(crate) async fn create(user: HostUser, slirp4netns: Option<&Path>) -> io::Result<Pod> {
        let holder = spawn_holder(user)?;
        let pid = holder
            .id()
            .ok_or_else(|| io::Error::other("the namespace holder exited at once"))?;
        let fd = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let netns = std::sync::Arc::new(NetNs {
            fd: OwnedFd::from(fd),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        });
        let mut pod = Pod {
            netns,
            holder,
            slirp: None,
        };
        if let Some(slirp) = slirp4netns {
            pod.slirp = Some(spawn_slirp(slirp, user, pid).await?);
        }
        Ok(pod)
    }

    pub(crate) fn netns(&self) -> &std::sync::Arc<NetNs> {
        &self.netns
    }

    /// Ends the holder and slirp4netns (the namespace goes with its last process).
    pub(crate) async fn stop(&mut self) {
        if let Some(slirp) = &mut self.slirp {
            let _ = slirp.kill().await;
        }
        let _ = self.holder.kill().await;
    }
}

/// `sleep infinity` in a new user and network namespace, as `user`, loopback up.
fn spawn_holder(user: HostUser) -> io::Result<Child> {
    let mut command = Command::new("sleep");
    command
        .arg("infinity")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let lo = CString::new("lo").expect("no NUL");
    // SAFETY: the closure runs between fork and exec and makes raw syscalls only, on memory
    // allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            user.become_it()?;
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            loopback_up(&lo)
        });
    }
    command.spawn()
}

/// Brings `lo` up in the calling process's network namespace.
///
/// # Safety
/// Raw syscalls only: callable between fork and exec.
unsafe fn loopback_up(lo: &CString) -> io::Result<()> {
    // SAFETY: socket/ioctl on a zeroed `ifreq` whose name fits (`lo`).
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(lo.as_bytes_with_nul()) {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            result = libc::ioctl(sock, libc::SIOCSIFFLAGS, &request);
        }
        let err = io::Error::last_os_error();
        libc::close(sock);
        if result != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// slirp4netns for the namespace of `holder`, as `user`; returns once it is ready.
async fn spawn_slirp(slirp: &Path, user: HostUser, holder: u32) -> io::Result<Child> {
    let (ready_read, ready_write) = pipe()?;
    let ready_fd = ready_write.as_raw_fd();
    let mut command = Command::new(slirp);
    command
        .arg("--configure")
        .arg("--mtu=65520")
        .arg("--disable-host-loopback")
        .arg("--enable-seccomp")
        .arg(format!("--userns-path=/proc/{holder}/ns/user"))
        .arg(format!("--ready-fd={ready_fd}"))
        .arg(holder.to_string())
        .arg("tap0")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: raw syscalls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            user.become_it()?;
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            inherit(ready_fd)
        });
    }
    let mut child = command.spawn()?;
    drop(ready_write);
    let ready = tokio::task::spawn_blocking(move || {
        let mut byte = [0u8; 1];
        let mut file = std::fs::File::from(ready_read);
        io::Read::read(&mut file, &mut byte).map(|n| n == 1)
    });
    match tokio::time::timeout(Duration::from_secs(10), ready).await {
        Ok(Ok(Ok(true))) => Ok(child),
        outcome => {
            let _ = child.start_kill();
            let output = child.wait_with_output().await.ok();
            let stderr = output
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_default();
            let why = match outcome {
                Err(_) => "not ready within 10 s".to_owned(),
                _ => "exited".to_owned(),
            };
            Err(io::Error::other(format!(
                "{} {why}: {stderr}",
                slirp.display()
            )))
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Lets `fd` survive the coming `exec` (between fork and exec).
pub(crate) fn inherit(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the parent keeps open until the child has executed.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
