//! The constraints file uv reads in the install sandbox (the rules themselves are applied by
//! [`crate::app_process::install_with_constraints`]).

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
    let text = crate::app_process::constraints_text(rules);
    let path = owner_dir.join(name);
    fs::write(&path, text)
        .and_then(|()| match user {
            Some(user) => user.own(&path),
            None => Ok(()),
        })
        .map_err(|err| format!("cannot write the install's constraints: {err}"))?;
    Ok(format!("{OWNER_DIR}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_holds_the_pins_and_is_named_as_the_sandbox_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let rules = q8s_core::constraints::Constraints::builtin();
        let rule = rules.for_version("h2o-wave", "0.26.3")[0];
        let written = write_constraints(dir.path(), "c.txt", &[rule], None).unwrap();
        assert_eq!(written, format!("{OWNER_DIR}/c.txt"));
        let text = fs::read_to_string(dir.path().join("c.txt")).unwrap();
        assert!(text.lines().any(|l| l == "starlette<1"), "{text}");
    }
}
