//! Deploying an app folder from a client (`q8s-cli bundle deploy`, `q8s.Client.deploy`): the
//! folder is bundled under its deploy version and imported, an instance is launched and,
//! when asked, awaited; when it does not come up, the end of its log comes back with it.
//! Native builds only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use q8s_core::api::{
    ApiError, App, ErrorCode, Instance, InstanceStatus, Visibility, build_deploy_bundle,
};
use q8s_core::bundle::{BundleError, BundleInfo};

use crate::client::Client;

/// Why a deploy did not reach the server: the folder cannot be bundled, or the import failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Bundling the folder failed (its diagnostics say why).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The upload failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A deploy bundle the server accepted.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The bundle as built (its warnings included).
    pub info: BundleInfo,
    /// Where the bundle was written.
    pub path: PathBuf,
    /// The app the server made of it.
    pub app: App,
    /// Time spent building the bundle (the rest of the call is the upload).
    pub bundle_time: Duration,
}

/// Lines of the log a deploy brings back of an instance that did not come up.
pub const LOG_TAIL: usize = 40;

/// What [`Client::deploy`] tells as it goes (the upload reports its progress apart).
#[derive(Debug)]
pub enum DeployStep<'a> {
    /// The server accepted the bundle, and the instance is launched.
    Launched(&'a Imported, &'a Instance),
    /// While waiting: the instance's status or status message changed.
    Status(&'a Instance),
}

/// A deploy the server accepted: the app, its new instance, and how its start went.
#[derive(Debug)]
pub struct Deployment {
    /// The bundle and the app the server made of it.
    pub imported: Imported,
    /// The instance as last seen: as launched, or as it settled when awaited.
    pub instance: Instance,
    /// Time from the launch until the instance settled (until launched, without waiting).
    pub start_time: Duration,
    /// When the instance was awaited and settled in another status than `RUNNING`: the last
    /// [`LOG_TAIL`] lines of its log, or why they cannot be read.
    pub log_tail: Option<Result<Vec<String>, ApiError>>,
}

/// Seconds since 1970 (UTC); deploy versions are stamped with it.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Client {
    /// Bundles the app folder `dir` into the folder `work` under its deploy version of now
    /// ([`q8s_core::bundle::deploy_version`]) and imports it, reporting the upload to `progress`.
    ///
    /// Deploy versions count seconds: when the version exists already (a deploy within the
    /// same second), the bundle is built again for the next second, twice at most.
    pub async fn import_deploy<P>(
        &self,
        dir: &Path,
        work: &Path,
        visibility: Visibility,
        progress: P,
    ) -> Result<Imported, DeployError>
    where
        P: FnMut(u64, u64) + Send + Clone + 'static,
    {
        let mut retries = 2;
        let mut bundle_time = Duration::ZERO;
        loop {
            let stamp = unix_now();
            let building = Instant::now();
            let (info, path) = build_deploy_bundle(dir, work, stamp)?;
            bundle_time += building.elapsed();
            match self.import_file(&path, visibility, progress.clone()).await {
                Err(e) if e.code() == ErrorCode::AppVersionExists.as_str() && retries > 0 => {
                    retries -= 1;
                    while unix_now() == stamp {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                result => {
                    return Ok(Imported {
                        info,
                        path,
                        app: result?,
                        bundle_time,
                    });
                }
            }
        }
    }

    /// Deploys the app folder `dir` ([`Client::import_deploy`], bundling in the folder
    /// `work`), launches an instance with `visibility`, and with `wait` polls it until it
    /// leaves `PENDING` and `STARTING` ([`ApiError::Timeout`] after that long). `progress`
    /// hears of the upload, `on_step` of the launch and of every change of status while
    /// waiting. An instance that settles other than `RUNNING` is no error: the
    /// [`Deployment`] then carries the end of its log.
    pub async fn deploy<P>(
        &self,
        dir: &Path,
        work: &Path,
        visibility: Visibility,
        wait: Option<Duration>,
        progress: P,
        mut on_step: impl FnMut(DeployStep<'_>),
    ) -> Result<Deployment, DeployError>
    where
        P: FnMut(u64, u64) + Send + Clone + 'static,
    {
        let mut imported = self.import_deploy(dir, work, visibility, progress).await?;
        let launching = Instant::now();
        let instance = self.run(&imported.app.id, visibility).await?;
        on_step(DeployStep::Launched(&imported, &instance));
        // The app as it is now, counting the instance just launched (cards show its count).
        imported.app = self.app(&imported.app.id).await?;
        let Some(timeout) = wait else {
            return Ok(Deployment {
                imported,
                instance,
                start_time: launching.elapsed(),
                log_tail: None,
            });
        };
        let mut last = None;
        let instance = self
            .wait_for_instance(&instance.id, timeout, |instance| {
                let now = (instance.status, instance.status_message.clone());
                if last.as_ref() != Some(&now) {
                    on_step(DeployStep::Status(instance));
                    last = Some(now);
                }
                instance.status.is_settled()
            })
            .await?;
        let start_time = launching.elapsed();
        let log_tail = match instance.status {
            InstanceStatus::Running => None,
            _ => Some(self.log_tail(&instance.id, LOG_TAIL).await),
        };
        Ok(Deployment {
            imported,
            instance,
            start_time,
            log_tail,
        })
    }

    /// The last `lines` lines of an instance's log (those read before the connection broke,
    /// if it does).
    pub async fn log_tail(&self, id: &str, lines: usize) -> Result<Vec<String>, ApiError> {
        let mut stream = self.logs(id, Some(lines), false).await?;
        let mut tail = Vec::new();
        while let Ok(Some(line)) = stream.next_line().await {
            tail.push(line);
        }
        Ok(tail)
    }
}
