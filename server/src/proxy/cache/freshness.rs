//! What HTTP lets the proxy's cache do (RFC 9111): the `Cache-Control` directives it acts on,
//! and for how long an answer may be served from the cache.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, header};

/// The longest an answer is kept, whatever it says.
pub(crate) const MAX_FRESHNESS: Duration = Duration::from_secs(3600);
/// The longest an answer without an explicit lifetime is kept.
pub(crate) const MAX_HEURISTIC: Duration = Duration::from_secs(60);

/// `Pragma: no-cache` counts only without `Cache-Control` (RFC 9111 §5.4).
pub(super) fn pragma_no_cache(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CACHE_CONTROL)
        && headers
            .get(header::PRAGMA)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"))
}

/// The `Cache-Control` directives the cache acts on.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Directives {
    pub(super) no_store: bool,
    pub(super) no_cache: bool,
    pub(super) private: bool,
    pub(super) max_age: Option<u64>,
    pub(super) s_maxage: Option<u64>,
}

impl Directives {
    pub(super) fn of(headers: &HeaderMap) -> Directives {
        let mut d = Directives::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            let Ok(value) = value.to_str() else {
                // Unreadable: assume the strictest.
                d.no_store = true;
                continue;
            };
            for directive in value.split(',') {
                let (name, arg) = match directive.split_once('=') {
                    Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let seconds = || arg.and_then(|a| a.parse::<u64>().ok()).or(Some(0));
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => d.no_store = true,
                    // With field names too (`no-cache="set-cookie"`): not worth the nuance.
                    "no-cache" => d.no_cache = true,
                    "private" => d.private = true,
                    "max-age" => d.max_age = seconds(),
                    "s-maxage" => d.s_maxage = seconds(),
                    _ => {}
                }
            }
        }
        d
    }
}

/// For how long `headers` (of a `200` answer to a `GET`, received at `now`) may be served from
/// the cache, counting the age it already has; `None` when it may not be kept at all.
pub(super) fn freshness(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let directives = Directives::of(headers);
    if directives.no_store || directives.no_cache || directives.private {
        return None;
    }
    if headers.contains_key(header::SET_COOKIE) || headers.contains_key(header::TRAILER) {
        return None;
    }
    let varies_on_more = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("*").split(','))
        .any(|field| !field.trim().eq_ignore_ascii_case("accept-encoding"));
    if varies_on_more {
        return None;
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let sent = date(header::DATE).unwrap_or(now);
    let lifetime = if let Some(seconds) = directives.s_maxage.or(directives.max_age) {
        Duration::from_secs(seconds).min(MAX_FRESHNESS)
    } else if headers.contains_key(header::EXPIRES) {
        // An unreadable date means already expired (§5.3).
        date(header::EXPIRES)?
            .duration_since(sent)
            .ok()?
            .min(MAX_FRESHNESS)
    } else {
        let modified = date(header::LAST_MODIFIED)?;
        (sent.duration_since(modified).ok()? / 10).min(MAX_HEURISTIC)
    };
    let age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs);
    let left = lifetime.checked_sub(age)?;
    (!left.is_zero()).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::cache::tests::headers;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
    }

    fn http_date(time: SystemTime) -> HeaderValue {
        HeaderValue::from_str(&httpdate::fmt_http_date(time)).unwrap()
    }

    #[test]
    fn explicit_lifetimes_come_first_and_are_capped() {
        let now = at(0);
        let date = http_date(now);
        let date = date.to_str().unwrap();
        let fresh = |pairs: &[(&str, &str)]| freshness(&headers(pairs), now);
        assert_eq!(
            fresh(&[("cache-control", "max-age=30"), ("date", date)]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            fresh(&[("cache-control", "public, max-age=30, s-maxage=90")]),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            fresh(&[("cache-control", "max-age=31536000, immutable")]),
            Some(MAX_FRESHNESS)
        );
        let expires = http_date(at(120));
        assert_eq!(
            fresh(&[("date", date), ("expires", expires.to_str().unwrap())]),
            Some(Duration::from_secs(120))
        );
        // Already used up upstream.
        assert_eq!(
            fresh(&[("cache-control", "max-age=30"), ("age", "30")]),
            None
        );
        assert_eq!(
            fresh(&[("cache-control", "max-age=30"), ("age", "10")]),
            Some(Duration::from_secs(20))
        );
        // An unreadable Expires is in the past.
        assert_eq!(fresh(&[("date", date), ("expires", "0")]), None);
    }

    #[test]
    fn without_a_lifetime_a_tenth_of_the_age_since_last_modified() {
        let now = at(1000);
        let modified = http_date(at(500));
        let date = http_date(now);
        let pairs = [
            ("date", date.to_str().unwrap()),
            ("last-modified", modified.to_str().unwrap()),
        ];
        assert_eq!(
            freshness(&headers(&pairs), now),
            Some(Duration::from_secs(50))
        );
        // A file modified long ago: capped.
        let old = http_date(at(0) - Duration::from_secs(86_400));
        let pairs = [
            ("date", date.to_str().unwrap()),
            ("last-modified", old.to_str().unwrap()),
        ];
        assert_eq!(freshness(&headers(&pairs), now), Some(MAX_HEURISTIC));
        // Modified this very second: nothing to go on.
        let pairs = [
            ("date", date.to_str().unwrap()),
            ("last-modified", date.to_str().unwrap()),
        ];
        assert_eq!(freshness(&headers(&pairs), now), None);
        // Neither a lifetime nor a date: not kept.
        assert_eq!(
            freshness(&headers(&[("content-type", "text/html")]), now),
            None
        );
    }

    #[test]
    fn answers_that_say_so_or_set_cookies_or_vary_are_not_kept() {
        let now = at(0);
        for pairs in [
            &[("cache-control", "no-store, max-age=60")][..],
            &[("cache-control", "private, max-age=60")],
            &[("cache-control", "no-cache, max-age=60")],
            &[("cache-control", "max-age=60"), ("set-cookie", "a=1")],
            &[
                ("cache-control", "max-age=60"),
                ("vary", "accept-encoding, cookie"),
            ],
            &[("cache-control", "max-age=60"), ("vary", "*")],
            &[("cache-control", "max-age=60"), ("trailer", "x-checksum")],
        ] {
            assert_eq!(freshness(&headers(pairs), now), None, "{pairs:?}");
        }
        let pairs = [("cache-control", "max-age=60"), ("vary", "Accept-Encoding")];
        assert!(freshness(&headers(&pairs), now).is_some());
    }
}
