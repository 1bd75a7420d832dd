//! The addresses a server is known by: the URL users reach it at (`--public-url`), the one
//! other replicas reach it at (`--advertise-url`), and the load balancers whose
//! `X-Forwarded-For` names the client (`--trusted-proxies`).

use std::net::SocketAddr;

/// The load balancers and reverse proxies in front of q8s (`--trusted-proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses CIDRs and plain addresses.
    pub fn parse(items: &[String]) -> anyhow::Result<TrustedProxies> {
        let mut nets = Vec::new();
        for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
            let net = match item.parse::<ipnet::IpNet>() {
                Ok(net) => net,
                Err(_) => match item.parse::<std::net::IpAddr>() {
                    Ok(ip) => ipnet::IpNet::from(ip),
                    Err(_) => anyhow::bail!(
                        "--trusted-proxies: `{item}` is neither an address nor a CIDR such as \
                         10.0.0.0/8"
                    ),
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`: `peer` itself, unless it
    /// is a trusted proxy; then the rightmost address of `X-Forwarded-For` that is not one
    /// (what a client writes there itself is never believed past the first untrusted hop).
    pub fn client(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<std::net::IpAddr>() else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `--public-url` checked: its scheme, host (lower case) and port (`None`: the scheme's
/// default).
pub(super) fn public_url(given: &str) -> anyhow::Result<(&'static str, String, Option<u16>)> {
    let url = url::Url::parse(given)
        .map_err(|e| anyhow::anyhow!("--public-url `{given}` is not a URL: {e}"))?;
    let scheme = match url.scheme() {
        "http" => "http",
        "https" => "https",
        other => anyhow::bail!("--public-url must be http:// or https://, not {other}://"),
    };
    let Some(url::Host::Domain(host)) = url.host() else {
        anyhow::bail!(
            "--public-url must name a host (instances are reached at <id>.<host>), not an address"
        );
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("--public-url must be a site's root, e.g. https://q8s.example.com");
    }
    Ok((scheme, host.to_ascii_lowercase(), url.port()))
}

/// This machine's host name (`localhost` when it has none).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `--advertise-url` checked (an `http://` or `https://` URL without a path), or the listen
/// address's.
pub(super) fn advertise_url(given: Option<String>, listen: SocketAddr) -> anyhow::Result<String> {
    let Some(given) = given else {
        return Ok(if listen.ip().is_unspecified() {
            format!("http://{}:{}", host_name(), listen.port())
        } else {
            format!("http://{listen}")
        });
    };
    let url = url::Url::parse(&given)
        .map_err(|e| anyhow::anyhow!("--advertise-url `{given}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
    {
        anyhow::bail!(
            "--advertise-url must be a URL such as `http://10.0.0.2:8008`, without a path"
        );
    }
    Ok(given.trim_end_matches('/').to_owned())
}
