//! The cache key of an app's Python environment (`envs/<key>/`): what goes into the
//! environment, hashed, so that two versions with the same inputs share one build and any
//! change of input builds a new one. Only files inside the bundle are read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::prepare::Interpreter;

/// The environment's cache key: the owner (an owner's build backends run while it is built, so
/// it is theirs alone), the interpreter, the constraint rules, `requirements.txt` and the
/// content of every file of the bundle it names (wheels, `-r`/`-c` files, `--find-links`
/// folders).
pub(super) fn environment_key(
    app_dir: &Path,
    interpreter: &Interpreter,
    owner: Uuid,
    constraints: &str,
) -> io::Result<String> {
    let mut hash = Sha256::new();
    hash.update(b"q8s-env-v4\n");
    hash.update(owner.as_bytes());
    hash.update(format!("{}\n", constraints.len()).as_bytes());
    hash.update(constraints.as_bytes());
    hash.update(interpreter.executable.as_os_str().as_encoded_bytes());
    hash.update(b"\n");
    hash.update(interpreter.version.as_bytes());
    hash.update(b"\n");
    // Canonical, so that paths inside hash the same from every version's folder.
    let app_dir = fs::canonicalize(app_dir)?;
    let mut seen = Vec::new();
    hash_requirements(
        &app_dir,
        Path::new("requirements.txt"),
        &mut hash,
        &mut seen,
    )?;
    Ok(format!("{:x}", hash.finalize()))
}

fn hash_requirements(
    app_dir: &Path,
    file: &Path,
    hash: &mut Sha256,
    seen: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let path = app_dir.join(file);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound && seen.is_empty() => return Ok(()),
        Err(err) => return Err(err),
    };
    seen.push(fs::canonicalize(&path)?);
    hash.update(format!("{}\n{}\n", file.display(), text.len()).as_bytes());
    hash.update(text.as_bytes());
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let line = line.split(" #").next().unwrap_or("");
        let mut nested = false;
        for token in line.split_whitespace().flat_map(|t| t.split('=')) {
            if matches!(token, "-r" | "--requirement" | "-c" | "--constraint") {
                nested = true;
                continue;
            }
            if let Some(found) = inside(app_dir, token) {
                if nested && found.is_file() && !seen.contains(&found) && seen.len() < 32 {
                    let relative = found.strip_prefix(app_dir).unwrap_or(&found).to_owned();
                    hash_requirements(app_dir, &relative, hash, seen)?;
                } else {
                    hash_path(app_dir, &found, hash)?;
                }
            }
            nested = false;
        }
    }
    Ok(())
}

/// `token` as a path inside the bundle, if it names one.
fn inside(app_dir: &Path, token: &str) -> Option<PathBuf> {
    let token = token.strip_prefix("file:").unwrap_or(token);
    if token.is_empty() || token.starts_with('-') || Path::new(token).is_absolute() {
        return None;
    }
    let root = fs::canonicalize(app_dir).ok()?;
    let path = fs::canonicalize(app_dir.join(token)).ok()?;
    path.starts_with(&root).then_some(path)
}

fn hash_path(app_dir: &Path, path: &Path, hash: &mut Sha256) -> io::Result<()> {
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    for file in files {
        let relative = file.strip_prefix(app_dir).unwrap_or(&file);
        let digest = Sha256::digest(fs::read(&file)?);
        hash.update(format!("{}={digest:x}\n", relative.display()).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter() -> Interpreter {
        Interpreter {
            executable: PathBuf::from("/usr/bin/python3"),
            version: "3.11.7".into(),
        }
    }

    #[test]
    fn the_key_follows_requirements_and_bundled_wheels() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path();
        fs::create_dir(app.join("wheels")).unwrap();
        fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"one").unwrap();
        fs::write(app.join("more.txt"), "requests\n").unwrap();
        fs::write(
            app.join("requirements.txt"),
            "h2o-wave==1.8.16\n./wheels/a-1.0-py3-none-any.whl\n-r more.txt # extra\n",
        )
        .unwrap();
        let first = environment_key(app, &interpreter(), Uuid::nil(), "").unwrap();
        assert_eq!(
            first,
            environment_key(app, &interpreter(), Uuid::nil(), "").unwrap()
        );
        fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"two").unwrap();
        let second = environment_key(app, &interpreter(), Uuid::nil(), "").unwrap();
        assert_ne!(first, second, "a changed wheel changes the key");
        fs::write(app.join("more.txt"), "requests==2\n").unwrap();
        let third = environment_key(app, &interpreter(), Uuid::nil(), "").unwrap();
        assert_ne!(
            second, third,
            "a changed nested requirements file changes the key"
        );
        let other = Interpreter {
            version: "3.12.1".into(),
            ..interpreter()
        };
        assert_ne!(
            third,
            environment_key(app, &other, Uuid::nil(), "").unwrap()
        );
        assert_ne!(
            third,
            environment_key(app, &interpreter(), Uuid::from_u128(1), "").unwrap(),
            "each owner has environments of their own"
        );
        assert_ne!(
            third,
            environment_key(app, &interpreter(), Uuid::nil(), "when h2o-wave <1: a <1\n").unwrap(),
            "new constraint rules build new environments"
        );
    }

    #[test]
    fn the_same_inputs_in_two_versions_share_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = ["one", "two"]
            .iter()
            .map(|version| {
                let app = dir.path().join(version);
                fs::create_dir_all(app.join("wheels")).unwrap();
                fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"same").unwrap();
                fs::write(app.join("base.txt"), "# pinned\nrequests==2\n").unwrap();
                fs::write(
                    app.join("requirements.txt"),
                    "# bundled\n-r base.txt\nwheels/a-1.0-py3-none-any.whl\n-r requirements.txt\n",
                )
                .unwrap();
                environment_key(&app, &interpreter(), Uuid::nil(), "").unwrap()
            })
            .collect();
        assert_eq!(keys[0], keys[1]);
    }

    #[test]
    fn paths_leaving_the_bundle_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        fs::create_dir(&app).unwrap();
        fs::write(dir.path().join("outside.whl"), b"x").unwrap();
        assert_eq!(inside(&app, "../outside.whl"), None);
        assert_eq!(inside(&app, "/etc/passwd"), None);
        assert_eq!(inside(&app, "h2o-wave==1"), None);
    }
}
