//! `q8s-cli bundle import` and `q8s-cli bundle deploy`: bundle (when given a folder), upload
//! with a progress bar, and for deploy launch the app and wait until it runs.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use q8s_client::{Client, DeployError, DeployStep};
use q8s_core::api::{App, Visibility};
use q8s_core::bundle::{self, BuildOptions};
use serde_json::json;

use crate::bundle::{manifest_display, report_bundle_error};
use crate::output::{Format, emit, print_diagnostics, print_json};
use crate::render;
use crate::session::{Connection, block_on, parse_visibility};

/// Exit code of a command stopped with Ctrl-C (128 + SIGINT), after cleaning up.
const INTERRUPTED: u8 = 130;

/// `bundle import [DIR|FILE.qz] [-v VIS]`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  q8s-cli bundle import                 # bundle the current folder and import it\n  q8s-cli bundle import -v ALL_USERS    # …and let every user launch it\n  q8s-cli bundle import dist/ai.h2o.q.peak.0.1.2.qz"
)]
pub struct ImportArgs {
    /// An app folder (bundled first) or a .qz file.
    #[arg(default_value = ".")]
    target: PathBuf,
    /// Who may see and launch the app: PRIVATE or ALL_USERS.
    #[arg(short = 'v', long, value_parser = parse_visibility, default_value = "PRIVATE")]
    visibility: Visibility,
}

/// `bundle deploy [DIR] [-v VIS] [--no-wait]`.
#[derive(Debug, Args)]
#[command(
    after_help = "The app is imported as <Version>-<UTC yyyymmddHHMMSS>, so deploying again never collides;\nremove old versions with `q8s-cli app delete`.\n\nExamples:\n  q8s-cli bundle deploy                 # the app in the current folder\n  q8s-cli bundle deploy examples/hello --no-wait"
)]
pub struct DeployArgs {
    /// The app folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Who may see the app and open the instance: PRIVATE or ALL_USERS.
    #[arg(short = 'v', long, value_parser = parse_visibility, default_value = "PRIVATE")]
    visibility: Visibility,
    /// Return once the instance is launched, without waiting for it to run.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for the instance to run.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
}

/// Runs `future`, or stops it on Ctrl-C (its temporary files are then removed as it drops).
async fn interruptible<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    tokio::select! {
        result = future => result.map(Some),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            Ok(None)
        }
    }
}

/// A bundle ready to upload: the `.qz` given, or one built into a temporary folder.
struct Prepared {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Bundles `target` when it is a folder; `Err(code)` when it is invalid (diagnostics shown).
fn prepare(target: &Path, format: Format) -> anyhow::Result<Result<Prepared, ExitCode>> {
    if !target.is_dir() {
        return Ok(Ok(Prepared {
            path: target.to_owned(),
            _temp: None,
        }));
    }
    let temp = tempfile::Builder::new().prefix("q8s-import-").tempdir()?;
    let options = BuildOptions {
        output: Some(temp.path().to_owned()),
    };
    match bundle::build_dir(target, &options) {
        Ok((info, path)) => {
            if format == Format::Text {
                print_diagnostics(&info.diagnostics, &manifest_display(target));
            }
            Ok(Ok(Prepared {
                path,
                _temp: Some(temp),
            }))
        }
        Err(err) => Ok(Err(report_bundle_error(
            err,
            format,
            &manifest_display(target),
        )?)),
    }
}

/// A progress bar for an upload on a terminal; nothing otherwise.
fn upload_bar(format: Format) -> ProgressBar {
    if format == Format::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

async fn upload(
    client: &Client,
    path: &Path,
    visibility: Visibility,
    format: Format,
) -> anyhow::Result<App> {
    let bar = upload_bar(format);
    let progress = bar.clone();
    let app = client
        .import_file(path, visibility, move |sent, total| {
            progress.set_length(total);
            progress.set_position(sent);
        })
        .await;
    bar.finish_and_clear();
    Ok(app?)
}

/// Runs `bundle import`.
pub fn import(
    args: ImportArgs,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let client = connection.client()?;
    let prepared = match prepare(&args.target, format)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let uploaded = block_on(interruptible(upload(
        &client,
        &prepared.path,
        args.visibility,
        format,
    )))??;
    let Some(app) = uploaded else {
        return Ok(ExitCode::from(INTERRUPTED));
    };
    if format == Format::Json {
        print_json(&app)?;
    } else {
        emit(&render::app_block(&app));
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds spent in each step of a deploy.
#[derive(Debug, serde::Serialize)]
struct Timings {
    bundle_seconds: f64,
    upload_seconds: f64,
    start_seconds: f64,
}

/// Runs `bundle deploy`.
pub fn deploy(
    args: DeployArgs,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let client = connection.client()?;
    let started = Instant::now();
    let temp = tempfile::Builder::new().prefix("q8s-deploy-").tempdir()?;
    let terminal = format == Format::Text && std::io::stderr().is_terminal();
    let spinner = if terminal && !args.no_wait {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    let finished = block_on(interruptible(async {
        let bar = upload_bar(format);
        let progress = bar.clone();
        let wait = (!args.no_wait).then(|| Duration::from_secs(args.timeout));
        let deployed = client
            .deploy(
                &args.dir,
                temp.path(),
                args.visibility,
                wait,
                move |sent, total| {
                    progress.set_length(total);
                    progress.set_position(sent);
                },
                |step| match step {
                    DeployStep::Launched(imported, instance) => {
                        bar.finish_and_clear();
                        if format == Format::Text {
                            print_diagnostics(
                                &imported.info.diagnostics,
                                &manifest_display(&args.dir),
                            );
                            emit(&render::app_block(&imported.app));
                            emit(&render::launched_block(instance));
                        }
                        if terminal && wait.is_some() {
                            spinner.enable_steady_tick(Duration::from_millis(100));
                        }
                    }
                    DeployStep::Status(instance) => {
                        let text = match &instance.status_message {
                            Some(m) => format!("{}: {m}", instance.status),
                            None => instance.status.to_string(),
                        };
                        if terminal {
                            spinner.set_message(text);
                        } else if format == Format::Text {
                            eprintln!("{text}");
                        }
                    }
                },
            )
            .await;
        bar.finish_and_clear();
        spinner.finish_and_clear();
        match deployed {
            Ok(deployed) => Ok(Ok(deployed)),
            Err(DeployError::Bundle(err)) => Ok(Err(err)),
            Err(DeployError::Api(err)) => Err(anyhow::Error::from(err)),
        }
    }))??;
    drop(temp);
    let deployed = match finished {
        None => return Ok(ExitCode::from(INTERRUPTED)),
        Some(Err(err)) => return report_bundle_error(err, format, &manifest_display(&args.dir)),
        Some(Ok(deployed)) => deployed,
    };
    let timings = Timings {
        bundle_seconds: deployed.imported.bundle_time.as_secs_f64(),
        upload_seconds: started.elapsed().as_secs_f64()
            - deployed.imported.bundle_time.as_secs_f64()
            - deployed.start_time.as_secs_f64(),
        start_seconds: deployed.start_time.as_secs_f64(),
    };
    let (app, instance) = (&deployed.imported.app, &deployed.instance);
    if format == Format::Json {
        print_json(&json!({"app": app, "instance": instance, "timings": timings}))?;
    } else if !args.no_wait {
        eprintln!(
            "{} in {:.1} s (bundle {:.2} s, upload {:.2} s, start {:.1} s)",
            instance.status,
            started.elapsed().as_secs_f64(),
            timings.bundle_seconds,
            timings.upload_seconds,
            timings.start_seconds
        );
    }
    let Some(log_tail) = &deployed.log_tail else {
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!("last lines of the log of instance {}:", instance.id);
    match log_tail {
        Ok(lines) => lines.iter().for_each(|line| eprintln!("  {line}")),
        Err(e) => eprintln!("  (the log cannot be read: {e})"),
    }
    eprintln!(
        "error: instance {} is {}{} (instance-failed) — see `q8s-cli instance logs {}`",
        instance.id,
        instance.status,
        instance
            .status_message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default(),
        instance.id
    );
    Ok(ExitCode::from(1))
}
