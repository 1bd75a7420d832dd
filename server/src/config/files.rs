//! Settings that name files: the admin's constraint rules and the host paths sandboxes see.

use std::path::{Path, PathBuf};

/// The built-in constraint rules, followed by those of `file`.
pub(super) fn constraints(
    file: Option<&Path>,
) -> anyhow::Result<q8s_core::constraints::Constraints> {
    use q8s_core::constraints::Constraints;
    let Some(file) = file else {
        return Ok(Constraints::builtin().clone());
    };
    let text = constraints_text(file)?;
    Constraints::with_admin(&text, &file.display().to_string())
        .map_err(|e| anyhow::anyhow!("--constraints: {e}"))
}

/// The text of the admin's constraints file (pods get it as it is: the Kubernetes runtime).
pub(super) fn constraints_text(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("--constraints: reading {}: {e}", file.display()))
}

/// `--sandbox-paths` checked: absolute, existing, and neither the data directory nor inside
/// it or holding it (sandboxes never see the server's data).
pub(super) fn sandbox_paths(paths: Vec<PathBuf>, data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    for path in &paths {
        if !path.is_absolute() {
            anyhow::bail!(
                "--sandbox-paths: {} is not an absolute path",
                path.display()
            );
        }
        let real = std::fs::canonicalize(path)
            .map_err(|e| anyhow::anyhow!("--sandbox-paths: {}: {e}", path.display()))?;
        let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        if real.starts_with(&data) || data.starts_with(&real) {
            anyhow::bail!(
                "--sandbox-paths: {} would show the data directory {} to sandboxes",
                path.display(),
                data_dir.display()
            );
        }
    }
    Ok(paths)
}
