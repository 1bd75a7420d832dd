//! `q8s-launcher`: what an instance's pod runs (see `q8s_runtime::launcher` and
//! docs/kubernetes.md). `prepare` (the init container) fetches, checks and unpacks the bundle
//! and builds the environment; `run` (the instance's container) starts Qd and the app. Inputs
//! are the pod's environment variables; folders and ports are flags so that tests can run it as
//! a plain process.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use q8s_runtime::app_process::{APP_DIR, APP_PORT, ENV_DIR, QD_PORT};
use q8s_runtime::launcher::{self, BundleFetch, Folders, RunSpec};

#[derive(Parser)]
#[command(
    name = "q8s-launcher",
    version,
    about = "Prepares and runs a q8s instance in its pod"
)]
struct Cli {
    /// The app's files.
    #[arg(long, global = true, default_value = APP_DIR)]
    app_dir: PathBuf,
    /// The Python environment.
    #[arg(long, global = true, default_value = ENV_DIR)]
    venv_dir: PathBuf,
    #[command(subcommand)]
    command: Step,
}

#[derive(Subcommand)]
enum Step {
    /// Fetch the bundle (Q8S_BUNDLE_URL, Q8S_BUNDLE_TOKEN, Q8S_BUNDLE_SHA256), check and unpack
    /// it, and build the environment (the built-in constraint rules, then Q8S_CONSTRAINTS: the
    /// server's --constraints file, when it has one).
    Prepare {
        /// Scratch space: the download and uv's cache.
        #[arg(long, default_value = "/tmp")]
        tmp_dir: PathBuf,
        /// The interpreter environments are built with.
        #[arg(long, default_value = "python3")]
        python: String,
        /// uv.
        #[arg(long, default_value = "uv")]
        uv: String,
    },
    /// Start Qd and the app (Q8S_INSTANCE_ID, Q8S_APP_ID, Q8S_APP_NAME, Q8S_APP_VERSION,
    /// Q8S_INSTANCE_URL, Q8S_MODULE, Q8S_ENV_NAMES and the variables it names).
    Run {
        /// The port the instance is served on, on every interface.
        #[arg(long, default_value_t = QD_PORT)]
        port: u16,
        /// A Wave app's own port, on loopback.
        #[arg(long, default_value_t = APP_PORT)]
        app_port: u16,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Step::Prepare {
            tmp_dir,
            python,
            uv,
        } => {
            let fetch = match fetch_from_env() {
                Ok(fetch) => fetch,
                Err(why) => return fail(&why),
            };
            let folders = Folders {
                app_dir: cli.app_dir,
                venv_dir: cli.venv_dir,
                tmp_dir,
                python,
                uv,
            };
            let admin = std::env::var("Q8S_CONSTRAINTS").ok();
            match launcher::install_constraints(admin.as_deref()) {
                Ok(constraints) => launcher::prepare(&fetch, &folders, &constraints).await,
                Err(why) => Err(why),
            }
        }
        Step::Run { port, app_port } => {
            match RunSpec::from_env(cli.app_dir, cli.venv_dir, port, app_port) {
                Ok(spec) => launcher::run(&spec).await,
                Err(why) => Err(why),
            }
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => fail(&why),
    }
}

fn fetch_from_env() -> Result<BundleFetch, String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    Ok(BundleFetch {
        url: var("Q8S_BUNDLE_URL")?,
        token: std::env::var("Q8S_BUNDLE_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        sha256: var("Q8S_BUNDLE_SHA256")?,
    })
}

fn fail(why: &str) -> std::process::ExitCode {
    eprintln!("q8s: {why}");
    std::process::ExitCode::FAILURE
}
