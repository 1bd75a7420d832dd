use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn reads_bearer_tokens_and_cookies() {
    let h = headers(&[
        ("authorization", "Bearer abc"),
        ("cookie", "a=1; q8s_session=xyz"),
        ("cookie", "b=2"),
    ]);
    assert_eq!(bearer(&h), Some("abc"));
    assert_eq!(session_cookie(&h), Ok(Some("xyz")));
    assert_eq!(session_cookie(&headers(&[("cookie", "a=1")])), Ok(None));
    assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
}

#[test]
fn two_different_session_cookies_are_refused() {
    let two = headers(&[
        ("cookie", "q8s_session=a; x=1"),
        ("cookie", "q8s_session=b"),
    ]);
    assert_eq!(session_cookie(&two), Err(Refusal::ConflictingSessions));
    let same = headers(&[("cookie", "q8s_session=a; q8s_session=a")]);
    assert_eq!(session_cookie(&same), Ok(Some("a")));
    let error = ApiError::from(Refusal::ConflictingSessions);
    assert_eq!(
        (error.status(), error.code),
        (
            StatusCode::BAD_REQUEST,
            ErrorCode::ConflictingSessionCookies
        )
    );
    let error = ApiError::from(Refusal::Throttled(std::time::Duration::from_millis(1500)));
    assert_eq!(error.retry_after, Some(2));
}

#[test]
fn request_site_reads_origin_and_fetch_metadata() {
    let site = |pairs: &[(&'static str, &'static str)]| request_site(&headers(pairs));
    assert_eq!(site(&[("host", "localhost:8008")]), RequestSite::Unknown);
    for same in [
        &[
            ("host", "localhost:8008"),
            ("origin", "http://localhost:8008"),
        ][..],
        &[
            ("host", "LOCALHOST:8008"),
            ("origin", "http://localhost:8008"),
        ],
        &[("host", "q8s.example"), ("origin", "https://q8s.example")],
        &[
            ("host", "q8s.example:443"),
            ("origin", "https://q8s.example"),
        ],
        &[("host", "[::1]:8008"), ("origin", "http://[::1]:8008")],
        // Behind a TLS proxy that keeps `Host`: one host and port serve one scheme.
        &[
            ("host", "q8s.example:8443"),
            ("origin", "https://q8s.example:8443"),
        ],
        &[
            ("host", "localhost:8008"),
            ("sec-fetch-site", "same-origin"),
        ],
        &[("host", "localhost:8008"), ("sec-fetch-site", "none")],
    ] {
        assert_eq!(site(same), RequestSite::Same, "{same:?}");
    }
    for other in [
        &[("host", "localhost:8008"), ("origin", "http://evil.test")][..],
        &[("host", "localhost:8008"), ("origin", "null")],
        &[
            ("host", "localhost:8008"),
            ("origin", "http://localhost:8009"),
        ],
        &[("host", "localhost"), ("origin", "http://a.localhost")],
        &[
            ("host", "q8s.example"),
            ("origin", "http://q8s.example:8080"),
        ],
        &[("host", "localhost:8008"), ("sec-fetch-site", "same-site")],
        &[("host", "localhost:8008"), ("sec-fetch-site", "cross-site")],
        &[
            ("host", "localhost:8008"),
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://evil.test"),
        ],
        &[("origin", "http://localhost:8008")],
    ] {
        assert_eq!(site(other), RequestSite::Other, "{other:?}");
    }
    assert!(require_same_site(&headers(&[("host", "a"), ("origin", "http://a")])).is_ok());
    let refused = require_same_site(&headers(&[("host", "a")])).unwrap_err();
    assert_eq!(refused.code, ErrorCode::CrossOriginRequest);
}

#[test]
fn secrets_are_random_and_hashed() {
    let a = new_api_token();
    assert!(a.starts_with("q8s_") && a.len() > 40);
    assert_ne!(a, new_api_token());
    assert_eq!(hash_secret("x").len(), 64);
    assert_eq!(
        request_host(&headers(&[("host", "ABC.localhost:8008")])).as_deref(),
        Some("abc.localhost")
    );
}
