//! The install's only way out: an HTTP `CONNECT` proxy that the server serves *inside* the
//! install's network namespace (which has loopback only), and that opens tunnels to the package
//! indexes the install may use and nowhere else.
//!
//! The indexes are PyPI's hosts, the ones the server's settings name (`UV_INDEX_URL`, …) and the
//! ones the app's `requirements.txt` names (`--index-url`, `--extra-index-url`, `--find-links`,
//! `name @ https://…`). Whatever the name, a tunnel never goes to a loopback, private,
//! link-local (cloud metadata) or otherwise non-public address, so a build backend cannot reach
//! the host's services, its network or another instance, even by naming them as an index.
//! uv goes through it by `HTTPS_PROXY`/`HTTP_PROXY`; TLS stays end to end.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::network::NetNs;

/// PyPI, uv's default index and where its files are.
const DEFAULT_HOSTS: &[&str] = &["pypi.org", "files.pythonhosted.org"];
/// Settings of the server's environment that name indexes.
const INDEX_SETTINGS: &[&str] = &[
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
];

/// The hosts an install may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Allowed(BTreeSet<String>);

impl Allowed {
    /// PyPI, the server's index settings and the indexes `requirements.txt` (and the files it
    /// includes with `-r`/`-c`, inside `app_dir`) names.
    pub(crate) fn for_app(app_dir: &Path) -> Allowed {
        let mut hosts: BTreeSet<String> = DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect();
        for setting in INDEX_SETTINGS {
            if let Ok(value) = std::env::var(setting) {
                hosts.extend(hosts_in(&value));
            }
        }
        let mut seen = Vec::new();
        collect_requirements(
            app_dir,
            Path::new("requirements.txt"),
            &mut hosts,
            &mut seen,
        );
        Allowed(hosts)
    }

    fn admits(&self, host: &str) -> bool {
        self.0
            .contains(&host.trim_end_matches('.').to_ascii_lowercase())
    }
}

/// Every `http(s)://` URL's host in `text` (lower case).
fn hosts_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '\'')
        .filter_map(|token| {
            let start = token.find("http://").or_else(|| token.find("https://"))?;
            let url = url::Url::parse(&token[start..]).ok()?;
            url.host_str().map(|h| h.to_ascii_lowercase())
        })
        .collect()
}

fn collect_requirements(
    app_dir: &Path,
    file: &Path,
    hosts: &mut BTreeSet<String>,
    seen: &mut Vec<std::path::PathBuf>,
) {
    let path = app_dir.join(file);
    let Ok(canonical) = std::fs::canonicalize(&path) else {
        return;
    };
    let Ok(root) = std::fs::canonicalize(app_dir) else {
        return;
    };
    if !canonical.starts_with(&root) || seen.contains(&canonical) || seen.len() >= 32 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(&canonical) else {
        return;
    };
    seen.push(canonical);
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') {
            continue;
        }
        hosts.extend(hosts_in(line));
        let mut words = line.split_whitespace().flat_map(|w| w.split('='));
        while let Some(word) = words.next() {
            if matches!(word, "-r" | "--requirement" | "-c" | "--constraint")
                && let Some(nested) = words.next()
            {
                collect_requirements(app_dir, Path::new(nested), hosts, seen);
            }
        }
    }
}

/// The proxy, serving until dropped.
pub(crate) struct IndexProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl IndexProxy {
    /// Listens on a free port of the namespace's loopback and tunnels to `allowed` hosts.
    pub(crate) fn start(netns: &NetNs, allowed: Allowed) -> io::Result<IndexProxy> {
        let listener = netns.listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let allowed = Arc::new(allowed);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let allowed = Arc::clone(&allowed);
                tokio::spawn(async move {
                    if let Err(err) = tunnel(client, &allowed).await {
                        tracing::debug!("install proxy: {err}");
                    }
                });
            }
        });
        Ok(IndexProxy { addr, task })
    }

    /// `http://127.0.0.1:<port>`, for `HTTPS_PROXY`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for IndexProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one `CONNECT host:port` with a tunnel, or a refusal that says why.
async fn tunnel(mut client: TcpStream, allowed: &Allowed) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), client.read(&mut buf))
            .await
            .map_err(|_| io::Error::other("no request within 30 s"))??;
        if n == 0 || head.len() + n > 8192 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        return refuse(
            &mut client,
            "405 Method Not Allowed",
            "only CONNECT to a package index",
        )
        .await;
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return refuse(&mut client, "400 Bad Request", "CONNECT host:port").await;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = match port.parse() {
        Ok(port @ (443 | 80)) => port,
        _ => return refuse(&mut client, "403 Forbidden", "only ports 443 and 80").await,
    };
    if !allowed.admits(host) {
        let why = format!("{host} is not a package index of this install");
        return refuse(&mut client, "403 Forbidden", &why).await;
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() || !addrs.iter().all(|a| is_public(a.ip())) {
        let why = format!("{host} resolves to an address that is not public");
        return refuse(&mut client, "403 Forbidden", &why).await;
    }
    let mut upstream = match TcpStream::connect(&addrs[..]).await {
        Ok(upstream) => upstream,
        Err(err) => return refuse(&mut client, "502 Bad Gateway", &err.to_string()).await,
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn refuse(client: &mut TcpStream, status: &str, why: &str) -> io::Result<()> {
    tracing::debug!("install proxy refused: {why}");
    let body = format!("q8s: {why}\n");
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(answer.as_bytes()).await
}

/// Whether `ip` may be reached: not loopback, private, link-local (cloud metadata), shared
/// (CGNAT), unspecified, broadcast, multicast or reserved. The documentation ranges are let
/// through: no network uses them for its own hosts by rule, and some egress gateways answer
/// name lookups with them.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reached() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["151.101.0.223", "2a04:4e42::223", "8.8.8.8", "203.0.113.80"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_indexes_of_requirements_are_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("more.txt"),
            "-f https://Wheels.Example.com/x/\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("requirements.txt"),
            "--extra-index-url https://download.pytorch.org/whl/cpu\n\
             torch\n\
             pkg @ https://github.com/o/r/archive/v1.tar.gz # pinned\n\
             -r more.txt\n\
             -r ../outside.txt\n",
        )
        .unwrap();
        let allowed = Allowed::for_app(dir.path());
        for host in [
            "pypi.org",
            "files.pythonhosted.org",
            "download.pytorch.org",
            "github.com",
            "wheels.example.com",
        ] {
            assert!(allowed.admits(host), "{host}: {allowed:?}");
        }
        assert!(!allowed.admits("example.org"));
        assert!(!allowed.admits("169.254.169.254"));
    }
}
