//! `deploy/kubernetes/` agrees with itself and with q8s-server: the pods' labels are the ones
//! the instances' NetworkPolicy admits, the ServiceAccount is the one `rbac.yaml` binds, the
//! Role is in the instances' namespace, the URL pods fetch bundles from is the Service's, and
//! q8s-server accepts the settings the Deployment gives it (schemas: `make test-kubernetes`).
//! And the server image (`deploy/server/Dockerfile`, which nothing builds here) builds the
//! upload page with the tools the repository pins and points q8s-server at it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// A file of the repository, as text.
fn repository_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn documents(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes")
        .join(file);
    serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// The container's environment as the kubelet makes it: values, `$(VAR)` references to earlier
/// variables expanded, the fields a pod would have, the settings Secret's values.
fn environment(deployment: &Value, secret: &Value) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap().to_owned();
        let value = match var["value"].as_str() {
            Some(value) => {
                let mut value = value.to_owned();
                for (earlier, v) in &env {
                    value = value.replace(&format!("$({earlier})"), v);
                }
                value
            }
            None => match var["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap() {
                "metadata.name" => "q8s-server-5d9c7-abcde".to_owned(),
                "status.podIP" => "10.1.2.3".to_owned(),
                other => panic!("a field the test does not know: {other}"),
            },
        };
        env.insert(name, value);
    }
    for (key, value) in secret["stringData"].as_object().unwrap() {
        env.insert(key.clone(), value.as_str().unwrap().to_owned());
    }
    env
}

#[test]
fn the_server_s_manifests_agree_with_rbac_and_the_runtime_settings() {
    let server = documents("server.yaml");
    let rbac = documents("rbac.yaml");
    let deployment = find(&server, "Deployment");
    let env = environment(deployment, find(&server, "Secret"));
    let pod = &deployment["spec"]["template"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    // The NetworkPolicy's peers are the server pods: the labels it is told are the pods'.
    let labels = &pod["metadata"]["labels"];
    for pair in env["Q8S_SERVER_KUBERNETES_SERVER_LABELS"].split(',') {
        let (key, value) = pair.split_once('=').unwrap();
        assert_eq!(labels[key], value, "{pair}");
    }
    assert_eq!(
        env["Q8S_SERVER_KUBERNETES_SERVER_NAMESPACE"],
        deployment["metadata"]["namespace"]
    );
    // The ServiceAccount rbac.yaml binds, in the server's namespace.
    let account = find(&rbac, "ServiceAccount");
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        account["metadata"]["name"]
    );
    assert_eq!(
        account["metadata"]["namespace"],
        deployment["metadata"]["namespace"]
    );
    // The Role is where instances go.
    let role = find(&rbac, "Role");
    assert_eq!(
        role["metadata"]["namespace"],
        env["Q8S_SERVER_KUBERNETES_NAMESPACE"].as_str()
    );
    assert!(server.iter().any(|d| d["kind"] == "Namespace"
        && d["metadata"]["name"] == env["Q8S_SERVER_KUBERNETES_NAMESPACE"].as_str()));
    // Pods fetch bundles from the Service.
    let service = find(&server, "Service");
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(
        env["Q8S_SERVER_KUBERNETES_SERVER_URL"],
        format!(
            "http://{}.{}.svc:{port}",
            service["metadata"]["name"].as_str().unwrap(),
            service["metadata"]["namespace"].as_str().unwrap()
        )
    );
    assert_eq!(env["Q8S_SERVER_ADVERTISE_URL"], "http://10.1.2.3:8008");
    // The Ingress sends the site and every instance host to the Service.
    let ingress = find(&server, "Ingress");
    let public = env["Q8S_SERVER_PUBLIC_URL"].trim_start_matches("https://");
    let hosts: Vec<&str> = ingress["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, [public.to_owned(), format!("*.{public}")]);

    // q8s-server takes these settings: `check` gets past them to the database (which is not
    // there), and its runtime line is about the cluster, not about a setting.
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .env_clear()
        .envs(env.iter().filter(|(k, _)| k.starts_with("Q8S_SERVER_")))
        .env("Q8S_SERVER_DATA_DIR", data.path())
        .env(
            "Q8S_SERVER_DATABASE",
            "sqlite://".to_owned() + &data.path().join("q8s.db").display().to_string(),
        )
        .env(
            "Q8S_SERVER_BLOB_STORE",
            format!("file://{}", data.path().join("blobs").display()),
        )
        .arg("check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let runtime = stdout
        .lines()
        .find(|l| l.contains("runtime"))
        .unwrap_or_else(|| panic!("settings refused: {stdout}{stderr}"));
    assert!(
        runtime.contains("no in-cluster configuration or kubeconfig"),
        "{runtime}"
    );
}

#[tokio::test]
async fn the_server_image_builds_the_upload_page_with_the_pinned_tools_and_serves_it() {
    let dockerfile = repository_file("deploy/server/Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let has = |line: &str| instructions.iter().any(|l| l.trim() == line);
    // The wasm-bindgen CLI must be exactly the library's version in Cargo.lock (what
    // scripts/setup.sh installs for `make build-web`): the CLI refuses other versions' modules.
    let lock = repository_file("Cargo.lock");
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("wasm-bindgen in Cargo.lock")
        .trim_matches('"');
    assert!(
        has(&format!("ARG WASM_BINDGEN_VERSION={locked}")),
        "the Dockerfile's wasm-bindgen is not Cargo.lock's {locked}"
    );
    let setup = repository_file("scripts/setup.sh");
    assert!(setup.contains("/^name = \"wasm-bindgen\"$/") && setup.contains("Cargo.lock"));
    // The web stage: the target, that CLI, node and the locked npm packages (wasm-opt), then
    // the same script as `make build-web`, whose output the server image copies.
    for line in [
        "FROM rust:1.95-slim-bookworm AS web",
        "RUN rustup target add wasm32-unknown-unknown \\",
        "&& cargo install --locked wasm-bindgen-cli --version \"=${WASM_BINDGEN_VERSION}\"",
        "COPY package.json package-lock.json ./",
        "RUN npm ci --no-audit --no-fund --loglevel=error",
        "COPY --from=node /usr/local/bin/node /usr/local/bin/node",
        "COPY --from=node /src/node_modules ./node_modules",
        "RUN scripts/build-web.sh",
    ] {
        assert!(has(line), "the Dockerfile lacks `{line}`");
    }
    let build_web = repository_file("scripts/build-web.sh");
    assert!(build_web.contains("\nDIST=web-demo/dist\n"));
    assert!(build_web.contains("node_modules/.bin/wasm-opt"));
    assert!(build_web.contains("--target wasm32-unknown-unknown"));
    // The page is the one built in the image, not a copy from the developer's tree.
    let ignored = repository_file(".dockerignore");
    assert!(ignored.lines().any(|l| l == "/web-demo/dist"), "{ignored}");
    // The server image copies the page where its Q8S_SERVER_WEB_DIR says.
    let web_dir = instructions
        .iter()
        .find_map(|l| l.strip_prefix("ENV Q8S_SERVER_WEB_DIR="))
        .expect("ENV Q8S_SERVER_WEB_DIR");
    assert!(has(&format!(
        "COPY --from=web /src/web-demo/dist {web_dir}"
    )));
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.contains("Q8S_SERVER_WEB_DIR"),
        "not in the final image"
    );

    // And q8s-server reads that variable: the page's files come from the folder it names.
    let page = tempfile::tempdir().unwrap();
    std::fs::write(page.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(page.path().join("app.js"), "// the page of the image\n").unwrap();
    let server = common::TestServer::start_with_env(
        &[],
        &[("Q8S_SERVER_WEB_DIR", page.path().to_str().unwrap())],
    )
    .await;
    let script = server
        .client
        .get(format!("{}/app.js", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), reqwest::StatusCode::OK);
    assert_eq!(script.text().await.unwrap(), "// the page of the image\n");
}
