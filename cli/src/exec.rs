//! `q8s-cli exec`: runs the app in this folder the way q8s runs it — bundled, extracted,
//! installed with uv and sandboxed by the service's own runtime (`q8s_runtime`), in
//! this process, with everything in a temporary folder — and serves it at
//! `http://localhost:<port>/` through the service's own proxy code. Its log streams to stdout;
//! Ctrl-C stops the processes and removes the folder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use clap::Args;
use futures_util::StreamExt as _;
use q8s_core::archive::Limits;
use q8s_core::bundle::{self, BuildOptions};
use q8s_core::manifest::Manifest;
use q8s_runtime::forward::{self, Origin, pages};
use q8s_runtime::{
    BundleSource, InstanceSpec, InstanceStatus, LocalRuntime, LocalRuntimeConfig, Runtime,
    StatusSink, StatusUpdate,
};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::watch;
use uuid::Uuid;

use crate::bundle::{manifest_display, report_bundle_error};
use crate::output::{Format, print_diagnostics};

/// `exec [DIR] [--port 55555]`.
#[derive(Debug, Args)]
#[command(
    after_help = "Needs what the service needs to run apps: uv, bubblewrap (bwrap) and python3.\n[[Env]] variables are taken from your environment (there are no secrets locally).\n\nExamples:\n  q8s-cli exec                    # then open http://localhost:55555/\n  q8s-cli exec examples/hello --port 8080"
)]
pub struct ExecArgs {
    /// The app folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The local port to serve the app on.
    #[arg(long, default_value_t = 55555)]
    port: u16,
}

/// Reports the instance's status changes on stderr and to the serving loop.
struct Reporter {
    url: String,
    latest: watch::Sender<Option<StatusUpdate>>,
}

#[async_trait::async_trait]
impl StatusSink for Reporter {
    async fn update(&self, _instance_id: Uuid, update: StatusUpdate) {
        match (update.status, &update.message) {
            (InstanceStatus::Running, _) => eprintln!("exec: RUNNING at {}", self.url),
            (status, Some(message)) => eprintln!("exec: {status}: {message}"),
            (status, None) => eprintln!("exec: {status}"),
        }
        self.latest.send_replace(Some(update));
    }
}

/// Runs `exec`.
pub fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let work = tempfile::Builder::new().prefix("q8s-exec-").tempdir()?;
    let options = BuildOptions {
        output: Some(work.path().to_owned()),
    };
    let shown = manifest_display(&args.dir);
    let (info, qz) = match bundle::build_dir(&args.dir, &options) {
        Ok(built) => built,
        Err(err) => return report_bundle_error(err, Format::Text, &shown),
    };
    print_diagnostics(&info.diagnostics, &shown);
    let manifest = bundle::inspect_file(&qz, Limits::default())?
        .content
        .manifest
        .context("the bundle just built has no manifest")?;
    let spec = InstanceSpec {
        instance_id: Uuid::new_v4(),
        app_id: Uuid::new_v4(),
        // One local user: their package cache and environments.
        owner_id: Uuid::nil(),
        app_name: info.name.clone(),
        app_version: info.version.clone(),
        bundle_sha256: info.sha256.clone(),
        bundle: BundleSource::LocalFile(qz),
        module: manifest.runtime.module.clone(),
        env: env_from_shell(&manifest),
        volume_mount: manifest.runtime.volume_mount.clone(),
        volume_size: manifest.runtime.volume_size_bytes(),
        memory_limit: manifest.runtime.memory_limit_bytes(),
        memory_reservation: manifest.runtime.memory_reservation_bytes(),
        instance_url: format!("http://localhost:{}/", args.port),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = runtime.block_on(serve(spec, work.path().join("data"), args.port))?;
    drop(runtime);
    let folder = work.path().display().to_string();
    work.close().with_context(|| format!("removing {folder}"))?;
    eprintln!("exec: stopped; removed {folder}");
    Ok(code)
}

/// `[[Env]]` from the shell's environment, warning about each one that is not set.
fn env_from_shell(manifest: &Manifest) -> Vec<(String, String)> {
    manifest
        .env
        .iter()
        .filter_map(|e| match std::env::var(&e.name) {
            Ok(value) => Some((e.name.clone(), value)),
            Err(_) => {
                eprintln!(
                    "exec: {} is not set (q8s fills it from key {} of secret {}); export it to pass it to the app",
                    e.name, e.secret_key, e.secret
                );
                None
            }
        })
        .collect()
}

/// Serves the instance until Ctrl-C, SIGTERM or its failure; then stops every process.
async fn serve(spec: InstanceSpec, data: PathBuf, port: u16) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port}; choose another port with --port")
        })?;
    let url = format!("http://localhost:{port}/");
    let (latest, updates) = watch::channel(None);
    let reporter = Arc::new(Reporter {
        url: url.clone(),
        latest,
    });
    let config = LocalRuntimeConfig::new(data);
    LocalRuntime::check_host(&config).map_err(|why| anyhow::anyhow!(why))?;
    let runtime = Arc::new(LocalRuntime::new(config, reporter));
    let id = spec.instance_id;
    eprintln!(
        "exec: {} {} at {url} (Ctrl-C stops it)",
        spec.app_name, spec.app_version
    );
    runtime.start(spec).await?;
    // From here on the processes run: whatever happens, they are stopped before returning.
    let (outcome, log_task) = serve_started(&runtime, id, listener, updates).await;
    runtime.shutdown().await;
    if let Some(task) = log_task {
        // The log ends once the instance has stopped; let its last lines through.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    outcome
}

/// The part of [`serve`] after the instance started: log, proxy, and waiting for the end.
/// Returns how it ended and the task copying the log.
async fn serve_started(
    runtime: &Arc<LocalRuntime>,
    id: Uuid,
    listener: tokio::net::TcpListener,
    mut updates: watch::Receiver<Option<StatusUpdate>>,
) -> (
    anyhow::Result<ExitCode>,
    Option<tokio::task::JoinHandle<()>>,
) {
    // The log opens when the instance's supervisor starts, before its first status report.
    let _ = updates.wait_for(Option::is_some).await;
    let log_task = match runtime.logs(id, None, true).await {
        Ok(log) => Some(tokio::spawn(copy_log(log))),
        Err(e) => {
            eprintln!("exec: the log cannot be followed: {e}");
            None
        }
    };
    let proxy = {
        let runtime = Arc::clone(runtime);
        axum::Router::new().fallback(move |request: Request| {
            let runtime = Arc::clone(&runtime);
            async move { forward(runtime.as_ref(), id, request).await }
        })
    };
    let (stop_serving, mut stopped) = watch::channel(false);
    let mut server = tokio::spawn(async move {
        axum::serve(
            listener,
            proxy.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
    });
    let failed = updates.wait_for(|u| {
        u.as_ref()
            .is_some_and(|u| u.status == InstanceStatus::Failed)
    });
    let outcome = tokio::select! {
        _ = shutdown_signal() => Ok(ExitCode::SUCCESS),
        _ = failed => Ok(ExitCode::from(1)),
        result = &mut server => match result {
            Ok(Ok(())) => Ok(ExitCode::from(1)),
            Ok(Err(e)) => Err(anyhow::Error::from(e).context("serving the app")),
            Err(e) => Err(anyhow::Error::from(e).context("serving the app")),
        },
    };
    eprintln!("exec: stopping…");
    // A second Ctrl-C while stopping ends at once (leaving the folder behind).
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("exec: interrupted again; files may be left in the temporary folder");
        std::process::exit(130);
    });
    let _ = stop_serving.send(true);
    // Open websockets would keep a graceful shutdown waiting: give it a moment, no more.
    if tokio::time::timeout(Duration::from_secs(2), &mut server)
        .await
        .is_err()
    {
        server.abort();
    }
    (outcome, log_task)
}

/// Forwards a request to the instance as the service's proxy does, for the user who started
/// `exec`, or answers with the proxy's page when the instance is not ready or does not answer.
async fn forward(runtime: &LocalRuntime, id: Uuid, request: Request) -> Response {
    let Some(upstream) = runtime.upstream(id) else {
        return pages::retry_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The app is starting",
            "This page reloads by itself.",
        );
    };
    let origin = Origin {
        host: Some(
            request
                .headers()
                .get(header::HOST)
                .cloned()
                .unwrap_or(HeaderValue::from_static("localhost")),
        ),
        user: HeaderValue::from_str(&std::env::var("USER").unwrap_or_else(|_| "local".to_owned()))
            .ok(),
        peer: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip()),
    };
    match forward::forward(&upstream, request, origin).await {
        Ok(response) => response,
        Err(_) => pages::unanswered(),
    }
}

/// Copies the instance's log to stdout until the instance stops.
async fn copy_log(mut log: q8s_runtime::LogStream) {
    let mut stdout = tokio::io::stdout();
    while let Some(Ok(chunk)) = log.next().await {
        if stdout.write_all(&chunk).await.is_err() {
            break;
        }
        let _ = stdout.flush().await;
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = interrupt.await;
}
