//! Behind a load balancer (`--trusted-proxies`), attacked against a real server: each client
//! is counted at the address the balancer names, and nobody else can choose the address they
//! are counted at by writing `X-Forwarded-For`.

mod common;

use common::TestServer;
use reqwest::{Client, StatusCode};

/// The throttle window (seconds).
const WINDOW: &str = "20";

/// Behind a load balancer listed in `--trusted-proxies`, each client is counted at the address
/// the balancer names in `X-Forwarded-For`: one guesser does not lock out everyone behind it;
/// a client that is not a trusted proxy cannot pick its address by writing the header.
#[tokio::test]
async fn behind_a_trusted_balancer_each_client_is_counted_at_its_own_address() {
    let server = TestServer::start_with(&[
        "--sign-in-window",
        WINDOW,
        "--sign-in-attempts",
        "1",
        "--trusted-proxies",
        "127.0.0.1/32",
    ])
    .await;
    let balancer = server.client_from([127, 0, 0, 1], &[]);
    let me = |http: &Client, forwarded_for: &'static str, token: String| {
        let request = http
            .get(server.api("/me"))
            .header("x-forwarded-for", forwarded_for)
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    // Ten wrong tokens per address are allowed (ten times --sign-in-attempts).
    for i in 0..10 {
        let status = me(&balancer, "198.51.100.1", format!("q8s_guess{i:040}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let guess = || "q8s_guess".to_owned() + &"9".repeat(40);
    assert_eq!(
        me(&balancer, "198.51.100.1", guess()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same balancer is not throttled, and a spoofed first hop
    // does not move the guesser elsewhere.
    let admin = server.admin_token.clone();
    assert_eq!(
        me(&balancer, "198.51.100.2", admin.clone()).await,
        StatusCode::OK
    );
    assert_eq!(
        me(&balancer, "203.0.113.9, 198.51.100.1", admin.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client that is no trusted proxy is counted at its own address, whatever it writes.
    let direct = server.client_from([127, 0, 0, 8], &[]);
    for i in 0..10 {
        let status = me(&direct, "198.51.100.77", format!("q8s_other{i:040}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        me(&direct, "198.51.100.78", admin.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(me(&balancer, "198.51.100.77", admin).await, StatusCode::OK);
}
