//! `q8s-launcher prepare`: the bundle fetched with the instance's token, checked against its
//! sha256, unpacked with core's strict reader, and the environment built with uv — the same
//! arguments, bytecode and constraint rules as the local runtime's installs
//! ([`crate::app_process`]). Its output is the install's part of the instance's log.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use q8s_core::constraints::Constraints;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::app_process::{self, ConstraintRounds};

/// The most bytes a bundle download may have (the server's own cap is lower).
const MAX_DOWNLOAD: u64 = 8 << 30;

/// Where the bundle comes from, and what it must hash to.
#[derive(Clone)]
pub struct BundleFetch {
    /// `Q8S_BUNDLE_URL`: plain `http://` (inside the cluster).
    pub url: String,
    /// `Q8S_BUNDLE_TOKEN`, sent as `Authorization: Bearer`; secret.
    pub token: Option<String>,
    /// `Q8S_BUNDLE_SHA256`.
    pub sha256: String,
}

/// Where `prepare` puts things and which tools it uses.
#[derive(Debug, Clone)]
pub struct Folders {
    /// The app's files (the pod's `/app`).
    pub app_dir: PathBuf,
    /// The environment (the pod's `/venv`).
    pub venv_dir: PathBuf,
    /// Scratch space: the download, constraints, uv's cache (the pod's `/tmp`).
    pub tmp_dir: PathBuf,
    /// The Python interpreter environments are built with.
    pub python: String,
    /// uv.
    pub uv: String,
}

/// The rules an install applies: the built-in ones, then the admin's — `admin` is
/// `Q8S_CONSTRAINTS`, the text of the server's `--constraints` file, when the pod has it.
pub fn install_constraints(admin: Option<&str>) -> Result<Constraints, String> {
    match admin.filter(|text| !text.trim().is_empty()) {
        None => Ok(Constraints::builtin().clone()),
        Some(text) => Constraints::with_admin(text, "the server's --constraints")
            .map_err(|e| format!("Q8S_CONSTRAINTS: {e}")),
    }
}

/// Fetches, checks and unpacks the bundle into `folders.app_dir` and builds the environment in
/// `folders.venv_dir` (both emptied first: a pod that starts again prepares again). `Err` says
/// what failed.
/// `constraints`: [`install_constraints`].
pub async fn prepare(
    fetch: &BundleFetch,
    folders: &Folders,
    constraints: &Constraints,
) -> Result<(), String> {
    for dir in [&folders.app_dir, &folders.venv_dir, &folders.tmp_dir] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    empty(&folders.app_dir)?;
    empty(&folders.venv_dir)?;
    let bundle = folders.tmp_dir.join("bundle.qz");
    say(&format!("fetching the bundle {}", short(&fetch.sha256)));
    let bytes = download(fetch, &bundle).await?;
    say(&format!("fetched {bytes} bytes, sha256 checked"));
    let unpacked = unpack(&bundle, &folders.app_dir)?;
    let _ = fs::remove_file(&bundle);
    say(&format!("extracted {unpacked} bytes"));
    build_environment(folders, constraints).await
}

fn say(line: &str) {
    let _ = writeln!(io::stdout(), "q8s: {line}");
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Removes everything inside `dir`.
fn empty(dir: &Path) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| format!("cannot empty {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Downloads the bundle to `to`, hashing it on the way; refused when it does not hash to the
/// expected sha256 (the file is removed). The bytes written.
async fn download(fetch: &BundleFetch, to: &Path) -> Result<u64, String> {
    let url = url::Url::parse(&fetch.url).map_err(|e| format!("the bundle URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "the bundle URL must be http:// (q8s-server inside the cluster), not {}://",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("the bundle URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot reach {host}:{port}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("cannot talk to {host}:{port}: {e}"))?;
    tokio::spawn(connection);
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, host);
    if let Some(token) = &fetch.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("fetching the bundle: {e}"))?;
    if !response.status().is_success() {
        // The server's answer names why (401: the token; 404: no such instance).
        return Err(format!(
            "fetching the bundle: the server answered {}",
            response.status()
        ));
    }
    let mut body = response.into_body();
    let mut file =
        fs::File::create(to).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("fetching the bundle: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        written += data.len() as u64;
        if written > MAX_DOWNLOAD {
            return Err("the bundle is larger than any bundle can be".into());
        }
        hasher.update(&data);
        file.write_all(&data)
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    file.sync_all().map_err(|e| e.to_string())?;
    let got: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !got.eq_ignore_ascii_case(&fetch.sha256) {
        let _ = fs::remove_file(to);
        return Err(format!(
            "the bundle's sha256 is {got}, not {}: refused",
            fetch.sha256
        ));
    }
    Ok(written)
}

/// Unpacks the bundle into `app_dir` (empty) with core's strict reader: into a folder beside
/// its entries, then each entry moved into place. The bytes unpacked.
fn unpack(bundle: &Path, app_dir: &Path) -> Result<u64, String> {
    let file = fs::File::open(bundle).map_err(|e| format!("cannot open the bundle: {e}"))?;
    let limits = q8s_core::archive::Limits::default();
    let mut reader = q8s_core::archive::QzReader::open(io::BufReader::new(file), limits)
        .map_err(|e| format!("cannot read the bundle: {e}"))?;
    let staging = app_dir.join(".q8s-unpacked");
    let bytes = reader
        .extract_to(&staging)
        .map_err(|e| format!("cannot extract the bundle: {e}"))?;
    for entry in fs::read_dir(&staging).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        fs::rename(entry.path(), app_dir.join(entry.file_name()))
            .map_err(|e| format!("cannot move the app's files into place: {e}"))?;
    }
    fs::remove_dir(&staging).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// `uv venv`, then `uv pip install -r requirements.txt` in constraint rounds, as the local
/// runtime's installs do.
async fn build_environment(folders: &Folders, constraints: &Constraints) -> Result<(), String> {
    // uv and Python by the launcher's own PATH (the image's): the install's is a fixed one.
    let folders = &Folders {
        uv: which(&folders.uv)?,
        python: which(&folders.python)?,
        ..folders.clone()
    };
    let venv = folders.venv_dir.to_string_lossy().into_owned();
    let cache = folders
        .tmp_dir
        .join("uv-cache")
        .to_string_lossy()
        .into_owned();
    let env = app_process::install_env(&cache);
    say("creating the Python environment with uv");
    run_uv(
        folders,
        &env,
        &app_process::venv_args(&folders.python, &venv),
    )
    .await?;
    if !folders.app_dir.join("requirements.txt").is_file() {
        say("no requirements.txt: the environment has the standard library only");
        return Ok(());
    }
    say("installing requirements.txt with uv");
    let python = format!("{venv}/bin/python");
    let mut rounds = ConstraintRounds::start(constraints, say);
    let file = folders.tmp_dir.join("constraints.txt");
    loop {
        let named = if rounds.applied().is_empty() {
            None
        } else {
            fs::write(&file, app_process::constraints_text(rounds.applied()))
                .map_err(|e| format!("cannot write the install's constraints: {e}"))?;
            Some(file.to_string_lossy().into_owned())
        };
        let args = app_process::pip_install_args(&python, named.as_deref());
        run_uv(folders, &env, &args).await?;
        if !rounds.again(&folders.venv_dir, say) {
            return Ok(());
        }
    }
}

/// `program` as an absolute path: itself when it names a path, else found on `PATH`.
fn which(program: &str) -> Result<String, String> {
    if program.contains('/') {
        return Ok(program.to_owned());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .map(|path| path.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{program} is not on PATH"))
}

/// Runs uv in the app's folder with `env` only; its output goes to the launcher's.
async fn run_uv(
    folders: &Folders,
    env: &[(String, String)],
    args: &[String],
) -> Result<(), String> {
    let status = Command::new(&folders.uv)
        .args(args)
        .current_dir(&folders.app_dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("cannot run {}: {e}", folders.uv))?;
    if !status.success() {
        return Err(format!(
            "installing the environment failed: uv {} ended with {status}",
            args.first().map_or("", String::as_str)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::install_constraints;
    use q8s_core::constraints::Constraints;

    #[test]
    fn the_admin_s_rules_come_after_the_built_in_ones_and_bad_ones_are_refused() {
        let builtin = Constraints::builtin();
        for none in [None, Some(""), Some("  \n")] {
            assert_eq!(
                install_constraints(none).unwrap().rules.len(),
                builtin.rules.len()
            );
        }
        let admin = "version = \"site-1\"\n[[rule]]\npins = [\"numpy<2\"]\nwhy = \"old\"\n";
        let rules = install_constraints(Some(admin)).unwrap();
        assert_eq!(rules.rules.len(), builtin.rules.len() + 1);
        assert_eq!(rules.unconditional().last().unwrap().pins, ["numpy<2"]);
        assert!(
            rules
                .sources
                .last()
                .unwrap()
                .ends_with("--constraints site-1")
        );
        let err = install_constraints(Some("[[rule]]\npins = []\n")).unwrap_err();
        assert!(err.starts_with("Q8S_CONSTRAINTS: "), "{err}");
    }
}
