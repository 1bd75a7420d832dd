//! Extraction to disk (native only): everything goes into a fresh temporary
//! directory beside the destination, which is renamed into place only when
//! every entry checked out.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Seek};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{ArchiveError, QzReader};

impl<R: Read + Seek> QzReader<R> {
    /// Extracts every entry to `dest`, which must not exist yet; its parent
    /// must. Returns the bytes written in all.
    ///
    /// Entries are written into a fresh temporary directory next to `dest`
    /// (same filesystem), each size, CRC and limit is checked on the way,
    /// and the directory is renamed to `dest` only when all are good: a
    /// rejected archive leaves nothing behind. Files get mode 0644 or 0755,
    /// directories 0755. Files are created with `O_CREAT | O_EXCL`, so an
    /// existing path (a symlink included) is never followed or overwritten;
    /// the temporary directory starts empty and no symlink is ever created.
    pub fn extract_to(&mut self, dest: &Path) -> Result<u64, ArchiveError> {
        match fs::symlink_metadata(dest) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", dest.display()),
                )
                .into());
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
        let parent = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let staging = tempfile::Builder::new()
            .prefix(".qz-extract-")
            .tempdir_in(parent)?;
        let root = staging.path();
        fs::set_permissions(root, Permissions::from_mode(0o755))?;

        let mut dirs = fs::DirBuilder::new();
        dirs.recursive(true).mode(0o755);
        let mut remaining = self.limits.max_total_size;
        for raw in 0..self.raw.len() {
            let entry = &self.raw[raw];
            let path = root.join(entry.name.trim_end_matches('/'));
            if entry.is_dir {
                dirs.create(&path)?;
                remaining -= self.copy_entry(raw, &mut io::sink(), remaining)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                dirs.create(parent)?;
            }
            let mode = if entry.executable { 0o755 } else { 0o644 };
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)?;
            let mut out = BufWriter::with_capacity(64 << 10, file);
            remaining -= self.copy_entry(raw, &mut out, remaining)?;
            let file = out.into_inner().map_err(|err| err.into_error())?;
            // The umask may have narrowed the mode given to open().
            file.set_permissions(Permissions::from_mode(mode))?;
        }

        let staged = staging.keep();
        if let Err(err) = fs::rename(&staged, dest) {
            let _ = fs::remove_dir_all(&staged);
            return Err(err.into());
        }
        Ok(self.limits.max_total_size - remaining)
    }
}
