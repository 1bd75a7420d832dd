//! Instance volumes (`VolumeMount`), with `VolumeSize` enforced by the file system.
//!
//! When the server may mount file systems (root with `CAP_SYS_ADMIN`, loop devices,
//! `mkfs.ext4`), a volume is an ext4 file system in a sparse image file of exactly `VolumeSize`
//! bytes, `volumes/<instance>.img`, loop-mounted (`nosuid,nodev`) at `volumes/<instance>/`
//! while the instance runs: an app that fills it gets `ENOSPC`. It is mounted before the
//! instance starts and unmounted when it stops. An image is checked (`e2fsck -p`) before every
//! fresh mount; one still attached to a loop device (its last user is going away) is mounted
//! again through that device, never checked while in use. Terminate removes the image.
//!
//! Elsewhere a volume is a plain folder whose size is not enforced, which the instance's log
//! says. A folder volume of an earlier q8s is copied into a new image the first time it is
//! mounted (refused, and left as it was, when its files do not fit).

use std::fs;
use std::io;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::admission::human;
use super::log::InstanceLog;
use super::mounts;

/// The size of a volume whose spec names none. A manifest cannot ask for that (`VolumeMount`
/// comes with `VolumeSize`); it is for runtimes driven directly.
pub(crate) const DEFAULT_VOLUME_SIZE: u64 = 1 << 30;

/// The volumes below `volumes/`.
#[derive(Debug, Clone)]
pub(crate) struct Volumes {
    dir: PathBuf,
    /// The tools for image volumes, or why volumes are plain folders here.
    images: Result<Tools, String>,
}

#[derive(Debug, Clone)]
struct Tools {
    mkfs: PathBuf,
    fsck: PathBuf,
    mount: PathBuf,
    umount: PathBuf,
    cp: PathBuf,
}

/// Where an instance's volume lives.
struct Paths {
    /// The mount point (the folder itself for folder volumes).
    point: PathBuf,
    image: PathBuf,
    /// An image being made (removed at the next attach when a crash interrupted it).
    partial: PathBuf,
    /// Where a folder volume is mounted while its files are copied into a new image.
    copying: PathBuf,
    /// A folder volume whose files are in the image already, about to be removed.
    copied: PathBuf,
}

impl Volumes {
    /// Volumes in `dir`, as images when this process may make and mount them.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Volumes {
            dir,
            images: Tools::find(),
        }
    }

    /// How volumes are kept, for the runtime's start-up message.
    pub(crate) fn describe(&self) -> String {
        match &self.images {
            Ok(_) => "VolumeSize enforced: each volume is a loop-mounted ext4 image".to_owned(),
            Err(why) => format!("VolumeSize is not enforced, volumes are plain folders: {why}"),
        }
    }

    /// Unmounts the volumes a killed server left mounted (their processes are gone), so that
    /// every start checks its image; one that is still busy stays and is used as it is.
    pub(crate) fn unmount_leftovers(&self) -> usize {
        let Ok(tools) = &self.images else {
            return 0;
        };
        let dir = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        let leftovers: Vec<PathBuf> = mounts::current()
            .into_iter()
            .map(|m| m.point)
            .filter(|point| point.parent() == Some(dir.as_path()))
            .collect();
        leftovers
            .iter()
            .filter(|point| tools.unmount(point).is_ok())
            .count()
    }

    /// Makes the volume of `instance` ready at its mount point and returns that (a host
    /// folder); `owner` (uid, gid) gets its root folder. `Err` is the reason the instance
    /// cannot start.
    pub(crate) async fn attach(
        &self,
        instance: Uuid,
        size: Option<u64>,
        owner: Option<(u32, u32)>,
        log: &Arc<InstanceLog>,
    ) -> Result<PathBuf, String> {
        let (volumes, log) = (self.clone(), Arc::clone(log));
        let size = size.unwrap_or(DEFAULT_VOLUME_SIZE);
        tokio::task::spawn_blocking(move || volumes.attach_now(instance, size, owner, &log))
            .await
            .map_err(|err| format!("cannot prepare the volume: {err}"))?
    }

    /// Unmounts the volume of `instance` (it stays on disk), once its processes are gone.
    pub(crate) async fn detach(&self, instance: Uuid) {
        let volumes = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(err) = volumes.detach_now(instance) {
                tracing::warn!(%instance, "cannot unmount the volume: {err}");
            }
        })
        .await;
    }

    /// Removes the volume of `instance` and its data (terminate).
    pub(crate) async fn remove(&self, instance: Uuid) -> io::Result<()> {
        let volumes = self.clone();
        tokio::task::spawn_blocking(move || volumes.remove_now(instance))
            .await
            .map_err(io::Error::other)?
    }

    fn paths(&self, instance: Uuid) -> Paths {
        let at = |name: String| self.dir.join(name);
        Paths {
            point: at(instance.to_string()),
            image: at(format!("{instance}.img")),
            partial: at(format!(".{instance}.img.partial")),
            copying: at(format!(".{instance}.copying")),
            copied: at(format!(".{instance}.copied")),
        }
    }

    fn attach_now(
        &self,
        instance: Uuid,
        size: u64,
        owner: Option<(u32, u32)>,
        log: &InstanceLog,
    ) -> Result<PathBuf, String> {
        let paths = self.paths(instance);
        fs::create_dir_all(&self.dir)
            .map_err(|err| format!("cannot create {}: {err}", self.dir.display()))?;
        let tools = match &self.images {
            Ok(tools) => tools,
            Err(why) => {
                if paths.image.exists() {
                    return Err(format!(
                        "the volume is an ext4 image ({}) and this server cannot mount it: {why}",
                        paths.image.display()
                    ));
                }
                fs::create_dir_all(&paths.point)
                    .map_err(|err| format!("cannot create the volume: {err}"))?;
                give(&paths.point, owner)?;
                log.note(&format!(
                    "VolumeSize {} is not enforced: {why}",
                    human(size)
                ));
                return Ok(paths.point);
            }
        };
        tools.recover(&paths)?;
        if mounts::is_mount_point(&canonical(&paths.point)) {
            log.note("using the volume as the last run left it mounted");
            give(&paths.point, owner)?;
            return Ok(paths.point);
        }
        if !paths.image.exists() {
            tools.create(&paths, size, log)?;
        }
        fs::create_dir_all(&paths.point)
            .map_err(|err| format!("cannot create the volume's mount point: {err}"))?;
        match attached_loop(&paths.image) {
            // Still attached: its file system is alive (a sandbox of the last run is going
            // away); mounting the device again gives that same file system, unchecked.
            Some(device) => tools.mount(&device, &paths.point),
            None => {
                tools.check(&paths.image, log)?;
                tools.mount(&paths.image, &paths.point)
            }
        }?;
        give(&paths.point, owner)?;
        log.note(&format!(
            "the volume is an ext4 file system of VolumeSize {}",
            human(size)
        ));
        Ok(paths.point)
    }

    fn detach_now(&self, instance: Uuid) -> Result<(), String> {
        let Ok(tools) = &self.images else {
            return Ok(());
        };
        let point = canonical(&self.paths(instance).point);
        if mounts::is_mount_point(&point) {
            tools.unmount(&point)?;
        }
        Ok(())
    }

    fn remove_now(&self, instance: Uuid) -> io::Result<()> {
        self.detach_now(instance).map_err(io::Error::other)?;
        let paths = self.paths(instance);
        for file in [&paths.image, &paths.partial] {
            match fs::remove_file(file) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        for dir in [&paths.point, &paths.copied] {
            match fs::remove_dir_all(dir) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Tools {
    /// The tools, or why image volumes are not possible here.
    fn find() -> Result<Tools, String> {
        // SAFETY: plain syscall without arguments.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the server does not run as root (mounting needs it)".to_owned());
        }
        if !has_cap_sys_admin() {
            return Err("the server lacks CAP_SYS_ADMIN (mounting needs it)".to_owned());
        }
        if !Path::new("/dev/loop-control").exists() {
            return Err("no loop devices (/dev/loop-control)".to_owned());
        }
        let tool = |name: &str, package: &str| {
            find_tool(name).ok_or_else(|| format!("`{name}` is not installed ({package})"))
        };
        Ok(Tools {
            mkfs: tool("mkfs.ext4", "e2fsprogs")?,
            fsck: tool("e2fsck", "e2fsprogs")?,
            mount: tool("mount", "util-linux")?,
            umount: tool("umount", "util-linux")?,
            cp: tool("cp", "coreutils")?,
        })
    }

    /// Finishes or undoes what a crash interrupted: making an image, copying a folder volume
    /// into one.
    fn recover(&self, paths: &Paths) -> Result<(), String> {
        let copying = canonical(&paths.copying);
        if mounts::is_mount_point(&copying) {
            self.unmount(&copying)?;
        }
        let _ = fs::remove_dir(&paths.copying);
        if paths.partial.exists() {
            fs::remove_file(&paths.partial)
                .map_err(|err| format!("cannot remove {}: {err}", paths.partial.display()))?;
        }
        if paths.copied.exists() {
            if paths.image.exists() {
                fs::remove_dir_all(&paths.copied)
            } else {
                // The image never got its name: the folder is still the volume.
                let _ = fs::remove_dir(&paths.point);
                fs::rename(&paths.copied, &paths.point)
            }
            .map_err(|err| format!("cannot recover the volume: {err}"))?;
        }
        Ok(())
    }

    /// Makes the image (sparse, `size` bytes), with the files of a folder volume in it when
    /// there is one.
    fn create(&self, paths: &Paths, size: u64, log: &InstanceLog) -> Result<(), String> {
        let file = fs::File::create(&paths.partial)
            .and_then(|file| file.set_len(size).map(|()| file))
            .map_err(|err| format!("cannot create the volume image: {err}"))?;
        drop(file);
        let made = run(Command::new(&self.mkfs)
            // No blocks reserved for root: the app gets all of VolumeSize.
            .args(["-q", "-F", "-m", "0", "-L", "q8s-volume"])
            .arg(&paths.partial));
        if let Err(why) = made {
            let _ = fs::remove_file(&paths.partial);
            return Err(format!("cannot make the volume's file system: {why}"));
        }
        let folder = fs::read_dir(&paths.point).is_ok_and(|mut d| d.next().is_some());
        if folder {
            log.note("copying the folder volume of an earlier q8s into an ext4 image");
            if let Err(why) = self.copy_into(paths, size) {
                let _ = fs::remove_file(&paths.partial);
                return Err(why);
            }
            fs::rename(&paths.point, &paths.copied)
                .map_err(|err| format!("cannot move the old volume folder: {err}"))?;
        }
        fs::rename(&paths.partial, &paths.image)
            .map_err(|err| format!("cannot finish the volume image: {err}"))?;
        if folder {
            let _ = fs::remove_dir_all(&paths.copied);
        }
        Ok(())
    }

    fn copy_into(&self, paths: &Paths, size: u64) -> Result<(), String> {
        fs::create_dir_all(&paths.copying)
            .map_err(|err| format!("cannot create {}: {err}", paths.copying.display()))?;
        self.mount(&paths.partial, &paths.copying)?;
        let mut source = paths.point.clone().into_os_string();
        source.push("/.");
        let copied = run(Command::new(&self.cp)
            .arg("-a")
            .arg(source)
            .arg(&paths.copying));
        let unmounted = self.unmount(&canonical(&paths.copying));
        let _ = fs::remove_dir(&paths.copying);
        copied.map_err(|why| {
            format!(
                "the volume's files do not fit its VolumeSize {} and stay as they were: {why}",
                human(size)
            )
        })?;
        unmounted
    }

    /// `e2fsck -p`: repairs what is safe to repair without questions.
    fn check(&self, image: &Path, log: &InstanceLog) -> Result<(), String> {
        let output = Command::new(&self.fsck)
            .arg("-p")
            .arg(image)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot run {}: {err}", self.fsck.display()))?;
        // 1: errors corrected; 2: corrected, "reboot" (nothing had it mounted).
        match output.status.code() {
            Some(0) => Ok(()),
            Some(1 | 2) => {
                log.note(&format!(
                    "e2fsck repaired the volume: {}",
                    String::from_utf8_lossy(&output.stdout).trim()
                ));
                Ok(())
            }
            _ => Err(format!(
                "the volume's file system has errors e2fsck -p does not repair ({}); an admin \
                 can run `e2fsck -f {}`: {}",
                output.status,
                image.display(),
                said(&output)
            )),
        }
    }

    fn mount(&self, source: &Path, point: &Path) -> Result<(), String> {
        let mut command = Command::new(&self.mount);
        command.args(["-t", "ext4", "-o"]);
        command.arg(if source.starts_with("/dev") {
            "nosuid,nodev"
        } else {
            "loop,nosuid,nodev"
        });
        run(command.arg(source).arg(point)).map_err(|why| format!("cannot mount the volume: {why}"))
    }

    /// Unmounts `point`, retrying briefly while the last processes using it exit.
    fn unmount(&self, point: &Path) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..20 {
            match run(Command::new(&self.umount).arg(point)) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            if !mounts::is_mount_point(point) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("cannot unmount {}: {last}", point.display()))
    }
}

/// The loop device `image` is attached to, if any.
fn attached_loop(image: &Path) -> Option<PathBuf> {
    let image = fs::canonicalize(image).ok()?;
    fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("loop") {
                return None;
            }
            let backing = fs::read_to_string(entry.path().join("loop/backing_file")).ok()?;
            (Path::new(backing.trim_end()) == image).then(|| Path::new("/dev").join(name))
        })
}

/// Gives the volume's root folder to `owner`.
fn give(point: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    match owner {
        Some((uid, gid)) => chown(point, Some(uid), Some(gid))
            .map_err(|err| format!("cannot give the volume to {uid}:{gid}: {err}")),
        None => Ok(()),
    }
}

/// Mount points in `/proc/self/mountinfo` are canonical.
fn canonical(path: &Path) -> PathBuf {
    match (path.parent().map(fs::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => path.to_owned(),
    }
}

fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// `name` on `PATH` or in the system folders (`PATH` often lacks `/usr/sbin`).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs a tool; `Err` holds what it said.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {:?}: {err}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{} ({})", said(&output), output.status))
    }
}

fn said(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_named_canonically() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(canonical(&link.join("v")), real.join("v"));
        assert_eq!(
            canonical(Path::new("/nonexistent/v")),
            Path::new("/nonexistent/v")
        );
    }

    #[test]
    fn volumes_without_images_are_folders_that_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let volumes = Volumes {
            dir: dir.path().join("volumes"),
            images: Err("no loop devices".into()),
        };
        let log = InstanceLog::new(dir.path().join("i.log"), 1 << 20);
        log.open(Vec::new());
        let id = Uuid::new_v4();
        let point = volumes.attach_now(id, 10 << 20, None, &log).unwrap();
        assert!(point.is_dir());
        fs::write(point.join("x"), b"x").unwrap();
        // Left as is when an image exists that this server cannot mount.
        fs::write(dir.path().join(format!("volumes/{id}.img")), b"").unwrap();
        let refused = volumes.attach_now(id, 10 << 20, None, &log).unwrap_err();
        assert!(refused.contains("cannot mount it"), "{refused}");
        volumes.remove_now(id).unwrap();
        assert!(!point.exists());
        log.close();
        let text = fs::read_to_string(dir.path().join("i.log")).unwrap();
        assert!(
            text.contains("VolumeSize 10Mi is not enforced: no loop devices"),
            "{text}"
        );
    }
}
