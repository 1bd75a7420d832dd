//! Applying the constraint rules ([`q8s_core::constraints`]) to an install: which
//! distributions an environment holds, the constraints file uv reads, and how a matched rule is
//! described in the log.

use std::fs;
use std::path::Path;

use q8s_core::constraints::Rule;

use super::confine::HostUser;
use super::sandbox::OWNER_DIR;

/// Writes the pins of `rules` to `owner_dir/name` for uv, readable by the sandbox user; returns
/// its path inside the sandbox.
pub(super) fn write_constraints(
    owner_dir: &Path,
    name: &str,
    rules: &[&Rule],
    user: Option<HostUser>,
) -> Result<String, String> {
    let mut text = String::from("# q8s: known-good bounds (docs/runtime.md)\n");
    for rule in rules {
        text.push_str(&format!("# {}\n", rule.why));
        for pin in &rule.pins {
            text.push_str(pin);
            text.push('\n');
        }
    }
    let path = owner_dir.join(name);
    fs::write(&path, text)
        .and_then(|()| match user {
            Some(user) => user.own(&path),
            None => Ok(()),
        })
        .map_err(|err| format!("cannot write the install's constraints: {err}"))?;
    Ok(format!("{OWNER_DIR}/{name}"))
}

/// The distributions installed in the environment at `env_dir`, as `(name, version)` from the
/// names of its `*.dist-info` folders.
pub(super) fn installed_distributions(env_dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let lib = env_dir.join("lib");
    for python in fs::read_dir(&lib).into_iter().flatten().flatten() {
        let packages = python.path().join("site-packages");
        for entry in fs::read_dir(&packages).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".dist-info")) else {
                continue;
            };
            if let Some((name, version)) = stem.split_once('-') {
                found.push((name.to_owned(), version.to_owned()));
            }
        }
    }
    found.sort();
    found
}

/// `h2o-wave 0.26.3`: the installed distribution that `rule` matched.
pub(super) fn describe_match(rule: &Rule, installed: &[(String, String)]) -> String {
    let Some(range) = &rule.when else {
        return "any package".to_owned();
    };
    installed
        .iter()
        .find(|(name, _)| q8s_core::constraints::normalize(name) == range.package)
        .map_or_else(
            || range.to_string(),
            |(_, version)| format!("{} {version}", range.package),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_come_from_dist_info_folders() {
        let env = tempfile::tempdir().unwrap();
        let packages = env.path().join("lib/python3.11/site-packages");
        for dir in [
            "h2o_wave-0.26.3.dist-info",
            "starlette-0.52.1.dist-info",
            "h2o_wave",
            "x.pth",
        ] {
            fs::create_dir_all(packages.join(dir)).unwrap();
        }
        let found = installed_distributions(env.path());
        assert_eq!(
            found,
            [
                ("h2o_wave".to_owned(), "0.26.3".to_owned()),
                ("starlette".to_owned(), "0.52.1".to_owned())
            ]
        );
        let rules = q8s_core::constraints::Constraints::builtin();
        let rule = rules.for_version("h2o-wave", "0.26.3")[0];
        assert_eq!(describe_match(rule, &found), "h2o-wave 0.26.3");
        let written = write_constraints(env.path(), "c.txt", &[rule], None).unwrap();
        assert_eq!(written, format!("{OWNER_DIR}/c.txt"));
        let text = fs::read_to_string(env.path().join("c.txt")).unwrap();
        assert!(text.lines().any(|l| l == "starlette<1"), "{text}");
    }
}
