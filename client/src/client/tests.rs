use super::*;

#[test]
fn endpoints_keep_a_path_prefix_and_escape_segments() {
    let c = Client::new("https://example.com/q8s/", None).unwrap();
    assert_eq!(c.url(), "https://example.com/q8s");
    assert_eq!(
        c.api(&["apps", "a/../b c"]).as_str(),
        "https://example.com/q8s/api/v1/apps/a%2F..%2Fb%20c"
    );
    let c = Client::new("http://127.0.0.1:8008", Some(String::new())).unwrap();
    assert_eq!(c.api(&["me"]).as_str(), "http://127.0.0.1:8008/api/v1/me");
    assert_eq!(c.token(), None, "an empty token is no token");
    let c = c.with_token("q8s_secret");
    assert!(!format!("{c:?}").contains("q8s_secret"));
}

#[test]
fn unusable_urls_are_refused_with_a_reason() {
    for bad in [
        "127.0.0.1:8008",
        "ftp://x",
        "http://",
        "http://h/?q=1",
        "not a url",
    ] {
        let e = Client::new(bad, None).unwrap_err();
        assert_eq!(e.code(), "invalid-url", "{bad}");
    }
}
