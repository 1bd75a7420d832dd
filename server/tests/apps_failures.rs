//! The failing apps of `tests/apps/` through a real `q8s-server`: each is bundled, imported and
//! launched, and its failure must say why — in the instance's `status_message`, on the proxy's
//! page for the instance and in its log, which holds a repeated crash once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Installs fetch h2o-wave from PyPI into a cold cache; five crashes take 15 s of backoff.
const FAILED_WITHIN: Duration = Duration::from_secs(600);

/// Bundles and imports the app folder `dir` and launches it; returns the instance id.
async fn launch_folder(server: &TestServer, dir: &Path) -> String {
    let (_out, bundle) = bundle_dir(dir);
    let (status, app) = server.import(&server.admin_token, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_id = app["id"].as_str().unwrap();
    let (status, instance) = server.launch(&server.admin_token, app_id, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

async fn launch_test_app(server: &TestServer, name: &str) -> String {
    launch_folder(server, &repo_root().join("tests/apps").join(name)).await
}

/// Waits until the instance `name` launched at `launched` is FAILED and returns it (saying
/// how long that took).
async fn failed(server: &TestServer, id: &str, name: &str, launched: Instant) -> Value {
    let instance = server
        .wait_for_status(&server.admin_token, id, "FAILED", FAILED_WITHIN)
        .await;
    eprintln!(
        "{name}: FAILED {:.1} s after launch",
        launched.elapsed().as_secs_f64()
    );
    instance
}

/// What a browser (here with the admin's token) sees at the instance's address.
async fn proxy_page(server: &TestServer, id: &str) -> (StatusCode, String) {
    let r = server
        .instance_client(id)
        .get(format!("http://{id}.localhost:{}/", server.port))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn instance_log(server: &TestServer, id: &str) -> String {
    server
        .client
        .get(server.api(&format!("/instances/{id}/logs")))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// How the proxy's page writes `text` (HTML-escaped).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wave_apps_that_fail_say_why_in_the_api_the_proxy_and_the_log() {
    let server = TestServer::start().await;
    let launched = Instant::now();
    let traceback = launch_test_app(&server, "fail-traceback").await;
    let missing = launch_test_app(&server, "fail-missing-module").await;
    let install = launch_test_app(&server, "fail-install").await;
    let (traceback_failed, missing_failed, install_failed) = tokio::join!(
        failed(&server, &traceback, "fail-traceback", launched),
        failed(&server, &missing, "fail-missing-module", launched),
        failed(&server, &install, "fail-install", launched),
    );

    // A TypeError at import, five times: said once, with the exception line.
    let instance = traceback_failed;
    let message = instance["status_message"].as_str().unwrap();
    assert_eq!(
        message,
        "crashed 5 times in a row with the same error: app exited with code 1: \
         TypeError: can only concatenate str (not \"int\") to str",
    );
    assert_eq!(instance["restarts"], 4);
    let (status, page) = proxy_page(&server, &traceback).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains(&escaped(message)), "{page}");
    let log = instance_log(&server, &traceback).await;
    assert_eq!(
        log.matches("Traceback (most recent call last):").count(),
        1,
        "the traceback once: {log}"
    );
    assert!(
        log.contains("    REFRESH_SECONDS = \"refresh every \" + 30"),
        "{log}"
    );
    assert_eq!(
        log.matches("q8s: the app printed the same ").count(),
        4,
        "one line per repeat: {log}"
    );

    // A module the requirements do not name.
    let instance = missing_failed;
    let message = instance["status_message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "app exited with code 1: ModuleNotFoundError: No module named 'yaml' \
             (is it in requirements.txt?)"
        ),
        "{message}"
    );
    let (status, page) = proxy_page(&server, &missing).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains(&escaped("No module named 'yaml'")), "{page}");

    // A package that does not exist: uv's words, with the package, and no restart.
    let instance = install_failed;
    let message = instance["status_message"].as_str().unwrap();
    assert!(
        message.starts_with("installing the environment failed: uv pip install: ")
            && message.contains(
                "Because q8s-no-such-package-zzz was not found in the package registry and you \
                 require q8s-no-such-package-zzz==1.0"
            ),
        "{message}"
    );
    assert_eq!(instance["restarts"], 0);
    let (status, page) = proxy_page(&server, &install).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("q8s-no-such-package-zzz"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_never_listens_names_the_port_and_secrets_stay_out_of_messages() {
    let server = TestServer::start_with(&["--start-timeout", "5"]).await;
    let launched = Instant::now();
    let silent = launch_test_app(&server, "fail-no-port").await;

    // A plain app whose traceback prints the value of a secret it was given.
    const VALUE: &str = "tok-5ecret-value-77";
    server
        .put_secret("fail-api", json!({ "token": VALUE }))
        .await;
    let leaky = tempfile::tempdir().unwrap();
    std::fs::write(
        leaky.path().join("q-app.toml"),
        "[App]\nName = \"ai.h2o.q8s.test.fail-leaky\"\nVersion = \"0.1.0\"\n\
         [Runtime]\nModule = \"main\"\n\
         [[Env]]\nName = \"API_TOKEN\"\nSecret = \"fail-api\"\nSecretKey = \"token\"\n",
    )
    .unwrap();
    std::fs::write(
        leaky.path().join("main.py"),
        "import os\nRETRIES = int(os.environ['API_TOKEN'])\n",
    )
    .unwrap();
    let leaky = launch_folder(&server, leaky.path()).await;

    let (silent_failed, leaky_failed) = tokio::join!(
        failed(&server, &silent, "fail-no-port", launched),
        failed(&server, &leaky, "a secret in a traceback", launched),
    );
    let instance = silent_failed;
    let message = instance["status_message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "crashed 5 times in a row with the same error: the app ran but did not listen on port "
        ) && message
            .contains(" ($PORT) within 5 s; its last output: serving on http://0.0.0.0:5000"),
        "{message}"
    );
    let (status, page) = proxy_page(&server, &silent).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains(&escaped(message)), "{page}");

    let instance = leaky_failed;
    let message = instance["status_message"].as_str().unwrap();
    assert!(!message.contains(VALUE), "{message}");
    assert!(
        message.ends_with(
            "app exited with code 1: ValueError: invalid literal for int() with base 10: \
             '[redacted]'"
        ),
        "{message}"
    );
    let (_, page) = proxy_page(&server, &leaky).await;
    assert!(!page.contains(VALUE), "{page}");
    let log = instance_log(&server, &leaky).await;
    assert!(!log.contains(VALUE), "{log}");
}
