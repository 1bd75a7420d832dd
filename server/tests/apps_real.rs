//! The real apps of `tests/apps/`, as their authors wrote them: each bundled, imported into a
//! real q8s-server, launched, and checked through the proxy — the page the app sends over
//! Wave's websocket — and in its log. Their packages come from PyPI, into a cold cache (each
//! test has a server of its own); the time from launch to `RUNNING` is printed.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, bundle_dir, repo_root};
use reqwest::StatusCode;

/// Launch to `RUNNING`, cold cache: the install of every package from PyPI included.
const START: Duration = Duration::from_secs(600);
/// The app's first page message, once `RUNNING`.
const PAGE: Duration = Duration::from_secs(60);

/// A launched instance of a test app.
struct Launched {
    server: TestServer,
    token: String,
    id: String,
}

impl Launched {
    /// Bundles `tests/apps/<name>`, imports it, launches it and waits for `RUNNING`.
    async fn app(name: &str) -> Launched {
        Launched::app_in(&repo_root().join("tests/apps").join(name), &[]).await
    }

    /// Bundles the app folder `dir`, imports it into a server started with `args`, launches
    /// it and waits for `RUNNING` with a cold uv cache; then deletes the app, waits for its
    /// environment to be collected, and imports and launches it again: `RUNNING` with the
    /// owner's uv cache warm. Both times are printed.
    async fn app_in(dir: &std::path::Path, args: &[&str]) -> Launched {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let server = TestServer::start_with(args).await;
        let token = server.admin_token.clone();
        let (_dir, bundle) = bundle_dir(dir);
        let mut launched = Launched {
            server,
            token,
            id: String::new(),
        };
        let cold = launched.import_and_run(&name, &bundle).await;
        let app_id = launched.instance().await["app_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for path in [
            format!("/instances/{}", launched.id),
            format!("/apps/{app_id}"),
        ] {
            let r = common::client()
                .delete(launched.server.api(&path))
                .bearer_auth(&launched.token)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "DELETE {path}: {}", r.status());
        }
        let envs = launched.server.data_dir().join("envs");
        let deadline = Instant::now() + START;
        while std::fs::read_dir(&envs).is_ok_and(|mut d| d.next().is_some()) {
            assert!(
                Instant::now() < deadline,
                "the environment was not collected"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let warm = launched.import_and_run(&name, &bundle).await;
        eprintln!(
            "{name}: launch to RUNNING in {cold:.1} s with a cold uv cache, {warm:.1} s with a warm one"
        );
        launched
    }

    /// Imports `bundle`, launches it, waits for `RUNNING` (panics with the log on `FAILED`)
    /// and returns the seconds from launch to `RUNNING`.
    async fn import_and_run(&mut self, name: &str, bundle: &std::path::Path) -> f64 {
        let (status, app) = self.server.import(&self.token, bundle, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "import {name}: {app}");
        let (status, instance) = self
            .server
            .launch(&self.token, app["id"].as_str().unwrap(), "PRIVATE")
            .await;
        assert_eq!(status, StatusCode::CREATED, "launch {name}: {instance}");
        self.id = instance["id"].as_str().unwrap().to_owned();
        let began = Instant::now();
        loop {
            let instance = self.instance().await;
            match instance["status"].as_str().unwrap_or_default() {
                "RUNNING" => return began.elapsed().as_secs_f64(),
                "FAILED" => panic!("{name} FAILED: {instance}\n{}", self.log().await),
                _ if began.elapsed() > START => panic!(
                    "{name} is not RUNNING after {START:?}: {instance}\n{}",
                    self.log().await
                ),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The instance, as its owner sees it.
    async fn instance(&self) -> serde_json::Value {
        let (status, instance) = self
            .server
            .get(&self.token, &format!("/instances/{}", self.id))
            .await;
        assert_eq!(status, StatusCode::OK, "{instance}");
        instance
    }

    /// The first page message of the app that contains `needle`.
    async fn page(&self, needle: &str) -> String {
        self.server
            .wave_message(&self.token, &self.id, "/", needle, PAGE)
            .await
    }

    /// The instance's log, as its owner reads it.
    async fn log(&self) -> String {
        let r = common::client()
            .get(self.server.api(&format!("/instances/{}/logs", self.id)))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_pinning_wave_0_26_runs_with_the_constraints_for_its_release() {
    let app = Launched::app("wave-0.26").await;
    let page = app.page("q8s-test").await;
    assert!(page.contains("h2o-wave 0.26.3 on starlette 0."), "{page}");
    let log = app.log().await;
    assert!(
        log.contains("the environment has h2o-wave 0.26.3: installing again with starlette<1"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_pinning_wave_1_5_runs_with_the_constraints_for_its_release() {
    let app = Launched::app("wave-1.5").await;
    let page = app.page("q8s-test").await;
    assert!(page.contains("h2o-wave 1.5.1 on starlette 0."), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_starts_a_jvm_with_its_security_configuration() {
    let app = Launched::app("jvm").await;
    let page = app.page("q8s-test").await;
    assert!(
        page.contains("q8s-test: java 17")
            && page.contains("TLSv1.3")
            && page.contains("user.home /tmp"),
        "{page}\n{}",
        app.log().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matplotlib_app_draws_text_without_fontconfig_errors() {
    let app = Launched::app("matplotlib").await;
    let page = app.page("q8s-test").await;
    assert!(page.contains("text in DejaVuSans.ttf"), "{page}");
    let log = app.log().await;
    assert!(log.contains("q8s-test: figure of"), "{log}");
    assert!(!log.to_lowercase().contains("fontconfig error"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2o_ai_cloud_app_runs_from_its_app_toml_and_reads_its_own_tables() {
    // `app.toml` with H2O AI Cloud keys and `[Brand]`/`[Data]` tables the app reads at run
    // time; `.appignore` leaves notebooks and scratch data out.
    let app = Launched::app("cloud-app").await;
    let page = app.page("quarterly-sales-2026Q3").await;
    assert!(page.contains("#f28c28"), "{page}");
    let (_, instance) = app
        .server
        .get(&app.token, &format!("/instances/{}", app.id))
        .await;
    let (_, version) = app
        .server
        .get(
            &app.token,
            &format!("/apps/{}", instance["app_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(version["name"], "ai.h2o.wave.cloud-app", "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_constraints_file_adds_rules_that_reach_the_install() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("site-constraints.toml");
    std::fs::write(
        &rules,
        r#"
version = "site-7"
[[rule]]
when = "h2o-wave >= 1.8.6"
pins = ["uvicorn<0.30"]
why = "the site's tested uvicorn"
"#,
    )
    .unwrap();
    let app = Launched::app_in(
        &repo_root().join("examples/hello"),
        &["--constraints", rules.to_str().unwrap()],
    )
    .await;
    app.page("Say hello").await;
    let log = app.log().await;
    assert!(
        log.contains(
            "the environment has h2o-wave 1.8.16: installing again with uvicorn<0.30 (the site's tested uvicorn"
        ),
        "{log}"
    );
    assert!(
        log.contains("uvicorn==0.29"),
        "uv downgraded uvicorn: {log}"
    );
}
