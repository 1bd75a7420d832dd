//! Deploying an app folder from a client (`q8s-cli bundle deploy`, `q8s.Client.deploy`): the
//! folder is bundled under its deploy version and imported. Native builds only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use q8s_core::api::{ApiError, App, Visibility, build_deploy_bundle};
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
                Err(e) if e.code() == "app-version-exists" && retries > 0 => {
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
}
