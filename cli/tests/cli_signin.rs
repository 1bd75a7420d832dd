//! `q8s-cli config setup` against a real server: the loopback flow with the browser's part
//! played by HTTP requests (and once by headless Chromium), and the device flow.

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Server, User, block_on, http};

/// A running `config setup` whose stderr lines arrive on a channel.
struct Setup {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Setup {
    fn spawn(user: &User, args: &[&str]) -> Setup {
        let mut child = user
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Setup {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line `pick` accepts (waiting up to 30 s).
    fn line(&mut self, pick: impl Fn(&str) -> Option<String>) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no such line; stderr so far: {:?}", self.seen));
            self.seen.push(line.clone());
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }

    /// Exit code, stdout, and the rest of stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut out).unwrap();
        // The reader thread ends at the end of stderr; take every line it still has.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        (status.code(), out, self.seen.join("\n"))
    }
}

fn authorize_url(line: &str) -> Option<String> {
    let url = line.trim();
    (url.starts_with("http") && url.contains("/oauth/authorize?")).then(|| url.to_owned())
}

fn query(url: &str) -> HashMap<String, String> {
    let parsed = reqwest::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

/// The browser's part: signs in, answers the consent page, follows the redirect to the CLI.
/// Returns the status and body of the CLI's answer.
fn consent(server: &Server, url: &str, decision: &str, tamper_state: bool) -> (u16, String) {
    block_on(async {
        let client = http();
        let cookie = server
            .login(&client, "admin", &server.admin_password())
            .await;
        let page = client
            .get(url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("value=\"allow\""), "consent page: {html}");
        let mut form = query(url);
        form.insert("decision".into(), decision.into());
        let r = client
            .post(format!("{}/oauth/authorize", server.url))
            .header("cookie", &cookie)
            .header("origin", &server.url)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&form["redirect_uri"]), "{location}");
        if tamper_state {
            // A callback with another state is not this sign-in: answered 404, ignored.
            let forged = location.replace(&format!("state={}", form["state"]), "state=forged");
            let r = client.get(forged).send().await.unwrap();
            assert_eq!(r.status(), 404);
        }
        let r = client.get(&location).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn loopback_flow_signs_in_through_the_browser_pages() {
    let server = Server::start();
    let user = User::new();
    let mut setup = Setup::spawn(
        &user,
        &["config", "setup", "--url", &server.url, "--no-browser"],
    );
    let url = setup.line(authorize_url);
    let q = query(&url);
    assert_eq!(q["client_id"], "q8s-cli");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q["redirect_uri"].starts_with("http://127.0.0.1:")
            && q["redirect_uri"].ends_with("/callback")
    );
    let (status, page) = consent(&server, &url, "allow", true);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Signed in</h1>"), "{page}");
    let (code, out, err) = setup.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "Signed in to {} as admin (admin).\nSaved as profile `default` in {}.\n",
            server.url,
            user.config_path().display()
        )
    );
    // The saved token works, and it is a new one (not the admin's first token).
    let config = std::fs::read_to_string(user.config_path()).unwrap();
    assert!(config.contains("token = \"q8s_") && !config.contains(&server.admin_token));
    // With the token's id, to revoke it (`config logout`).
    let minted = &server.api_json("/tokens")[1];
    assert_eq!(minted["name"], "q8s-cli (loopback sign-in)");
    let id = minted["id"].as_str().unwrap();
    assert!(config.contains(&format!("token_id = \"{id}\"")), "{config}");
    assert_eq!(user.json(&["app", "list"]), serde_json::json!([]));
}

#[test]
fn loopback_flow_denied_changes_nothing() {
    let server = Server::start();
    let user = User::new();
    let mut setup = Setup::spawn(
        &user,
        &["config", "setup", "--url", &server.url, "--no-browser"],
    );
    let url = setup.line(authorize_url);
    let (status, page) = consent(&server, &url, "deny", false);
    assert_eq!(status, 400);
    assert!(page.contains("Not signed in"), "{page}");
    let (code, out, err) = setup.finish();
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.contains("error: sign-in failed: access denied (access-denied) — run `q8s-cli config setup` again and allow the request"),
        "{err}"
    );
    assert!(!user.config_path().exists(), "no profile written");
}

#[test]
fn device_flow_signs_in_with_a_code() {
    let server = Server::start();
    let (bob_password, _) = server.new_user("bob", false);
    let user = User::new();
    let mut setup = Setup::spawn(
        &user,
        &[
            "config",
            "setup",
            "--device",
            "--url",
            &server.url,
            "--profile",
            "ssh",
        ],
    );
    let page = setup.line(|l| l.trim().ends_with("/device").then(|| l.trim().to_owned()));
    assert_eq!(page, format!("http://localhost:{}/device", server.port));
    let code = setup.line(|l| {
        l.split_once("enter the code")
            .map(|(_, c)| c.trim().to_owned())
    });
    assert_eq!(code.len(), 9, "{code}");
    // It says that it waits, until when, and how to stop.
    let waiting = setup.line(|l| l.starts_with("Waiting for approval").then(|| l.to_owned()));
    assert!(
        waiting.contains("the code expires in") && waiting.ends_with("Ctrl-C cancels."),
        "{waiting}"
    );
    block_on(async {
        let client = http();
        let cookie = server.login(&client, "bob", &bob_password).await;
        let r = client
            .post(format!("{}/device", server.url))
            .header("cookie", cookie)
            .header("origin", &server.url)
            .form(&[("user_code", code.as_str()), ("action", "approve")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let (code, out, err) = setup.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("Signed in to {} as bob.\n", server.url)),
        "{out}"
    );
    let me = user.json(&["app", "list", "--profile", "ssh"]);
    assert_eq!(me, serde_json::json!([]));
    let tokens = user.json(&["token", "list", "--profile", "ssh"]);
    let config = std::fs::read_to_string(user.config_path()).unwrap();
    let id = tokens[1]["id"].as_str().unwrap();
    assert_eq!(tokens[1]["name"], "q8s-cli (device sign-in)");
    assert!(config.contains(&format!("token_id = \"{id}\"")), "{config}");
}

#[test]
fn loopback_flow_in_headless_chromium() {
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !repo.join("node_modules/playwright-core").exists() {
        assert!(
            std::env::var_os("Q8S_SKIP_BROWSER").is_some(),
            "playwright-core is missing: run `npm ci` in {} (scripts/setup.sh web), \
             or set Q8S_SKIP_BROWSER=1 to skip this test",
            repo.display()
        );
        return;
    }
    let server = Server::start();
    let mut user = User::new();
    let profile = user.home.path().join("chromium-profile");
    let report = user.home.path().join("browser.out");
    let script = user.home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nnode '{}' \"$1\" > '{}' 2>&1\necho \"exit $?\" >> '{}'\n",
            browser_dir.join("sign_in.mjs").display(),
            report.display(),
            report.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    user.env("BROWSER", script.to_str().unwrap())
        .env("Q8S_TEST_USERNAME", "admin")
        .env("Q8S_TEST_PASSWORD", &server.admin_password())
        .env("Q8S_TEST_PROFILE_DIR", profile.to_str().unwrap());
    let o = user
        .command(&["config", "setup", "--url", &server.url])
        .output()
        .unwrap();
    let browser = common::eventually(Duration::from_secs(60), "the browser to finish", || {
        std::fs::read_to_string(&report)
            .ok()
            .filter(|t| t.contains("exit "))
    });
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbrowser: {browser}",
        common::stderr(&o)
    );
    assert!(browser.contains("browser: Signed in\nexit 0"), "{browser}");
    assert_eq!(user.json(&["app", "list"]), serde_json::json!([]));
}
