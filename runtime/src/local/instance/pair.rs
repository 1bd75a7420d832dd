//! The two processes of one run of an instance, Qd and the app: waiting until either ends,
//! stopping both, whether they answer yet, and what to say when they do not within the start
//! timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Upstream;
use crate::local::diagnose;
use crate::local::log::RunOutput;
use crate::local::process::Sandboxed;

/// Which of the two processes did not answer (yet).
#[derive(Clone, Copy)]
pub(super) enum Silent {
    Qd,
    App,
}

/// Why a start timed out: `what` did not answer within `timeout`, and the last line of its
/// `output`.
pub(super) fn silence(what: String, timeout: Duration, output: &RunOutput) -> String {
    let reason = format!("{what} within {} s", timeout.as_secs());
    match diagnose::decisive_line(&output.lines()) {
        Some(line) => format!("{reason}; its last output: {line}"),
        None => reason,
    }
}

/// Whether Qd serves `/` (Wave) and the app accepts connections (it registered with Qd before
/// it listens); else which of them does not answer.
pub(super) async fn answers(qd: Option<&Upstream>, app: &Upstream) -> Result<(), Silent> {
    let probe = async {
        if let Some(qd) = qd
            && !http_ok(qd).await
        {
            return Err(Silent::Qd);
        }
        app.connect().await.map(drop).map_err(|_| Silent::App)
    };
    let silent = if qd.is_some() {
        Silent::Qd
    } else {
        Silent::App
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .unwrap_or(Err(silent))
}

async fn http_ok(upstream: &Upstream) -> bool {
    let Ok(mut stream) = upstream.connect().await else {
        return false;
    };
    let request = format!("GET / HTTP/1.0\r\nHost: {}\r\n\r\n", upstream.authority());
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).await.is_err() {
        return false;
    }
    // `HTTP/1.x 2xx`
    head.starts_with(b"HTTP/1.") && head[9] == b'2'
}

pub(super) async fn wait_either(
    qd: &mut Option<Sandboxed>,
    app: &mut Sandboxed,
) -> (&'static str, std::io::Result<std::process::ExitStatus>) {
    match qd {
        Some(qd) => tokio::select! {
            status = qd.wait() => (qd.name, status),
            status = app.wait() => (app.name, status),
        },
        None => (app.name, app.wait().await),
    }
}

pub(super) async fn stop_all(
    qd: &mut Option<Sandboxed>,
    app: Option<&mut Sandboxed>,
    grace: Duration,
) {
    // The app first, then its Qd, concurrently: both get the same grace period.
    let stop_app = async {
        if let Some(app) = app {
            app.stop(grace).await;
        }
    };
    let stop_qd = async {
        if let Some(qd) = qd {
            qd.stop(grace).await;
        }
    };
    tokio::join!(stop_app, stop_qd);
}
