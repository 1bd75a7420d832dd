//! The per-instance log: every line of installer, Qd and app output, prefixed with the UTC time
//! (`yyyy/mm/dd HH:MM:SS # `), kept on disk (bounded by rotating into one older file) and
//! followable while the instance runs.
//!
//! Each run of a process keeps its last lines in a [`RunOutput`] for the status message to quote
//! ([`super::diagnose`]). An app that crashes the same way again does not fill the log with the
//! same traceback: while a run's output repeats the previous crash's line for line it is held
//! back, and if the run then crashes having printed exactly that, one line stands for it
//! (`q8s: the app printed the same 42 lines as at its previous crash`); as soon as a line
//! differs, or the app answers, what was held is written (with the time each line came).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::broadcast;

use crate::LogStream;

/// Lines longer than this are split (a runaway line must not grow memory without bound).
const MAX_LINE: usize = 64 * 1024;
/// Lines a slow follower may fall behind before it skips ahead.
const FOLLOW_BUFFER: usize = 4096;
/// Shown instead of a secret value that an app printed.
const REDACTED: &str = "[redacted]";
/// Lines of a run's output kept for its status message and compared with the next run's.
const KEPT_LINES: usize = 1000;
/// The length of the `yyyy/mm/dd HH:MM:SS #` stamp (the prefix without its space).
const STAMP_LEN: usize = 21;

/// One instance's log file pair (`<id>.log` and the older `<id>.log.1`).
pub(crate) struct InstanceLog {
    path: PathBuf,
    /// The current file is rotated when it would pass this size; with the older file the log
    /// holds at most twice this.
    rotate_at: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    file: Option<File>,
    size: u64,
    /// Present while the instance is active: followers receive new lines through it.
    followers: Option<broadcast::Sender<Bytes>>,
    /// Secret values to mask in output lines.
    redactions: Vec<String>,
}

impl InstanceLog {
    /// The log at `path`; `max_bytes` bounds both files together.
    pub(crate) fn new(path: PathBuf, max_bytes: u64) -> Self {
        InstanceLog {
            path,
            rotate_at: (max_bytes / 2).max(4096),
            inner: Mutex::new(Inner {
                file: None,
                size: 0,
                followers: None,
                redactions: Vec::new(),
            }),
        }
    }

    /// Opens the log for a run: followers may attach from now on until [`InstanceLog::close`].
    /// `secrets` are masked wherever a process prints them.
    pub(crate) fn open(&self, secrets: Vec<String>) {
        let mut inner = self.lock();
        // Short values would mask ordinary words; the runtime itself never prints any value.
        inner.redactions = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        if inner.followers.is_none() {
            inner.followers = Some(broadcast::channel(FOLLOW_BUFFER).0);
        }
    }

    /// Ends every follow stream (the instance stopped) and closes the file.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.followers = None;
        inner.file = None;
    }

    /// Writes a line of the runtime itself.
    pub(crate) fn note(&self, text: &str) {
        self.write_line(format!("q8s: {text}").as_bytes());
    }

    /// Writes one line of process output (without its line ending).
    pub(crate) fn write_line(&self, raw: &[u8]) {
        let text = self.text_of(raw);
        self.append(stamped(&text));
    }

    /// `text` with every secret value of the instance masked, as the log shows it: for status
    /// messages, which may quote what a process printed.
    pub(crate) fn redact(&self, text: &str) -> String {
        let inner = self.lock();
        let mut text = text.to_owned();
        for secret in &inner.redactions {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// A line of output as text, without its line ending, secrets masked.
    fn text_of(&self, raw: &[u8]) -> String {
        let text = String::from_utf8_lossy(raw);
        self.redact(text.trim_end_matches(['\r', '\n']))
    }

    /// Writes one stamped line (with its line ending) to the file and the followers.
    fn append(&self, line: String) {
        let mut inner = self.lock();
        if let Err(err) = inner.append(&self.path, self.rotate_at, line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), "cannot write instance log: {err}");
        }
        if let Some(tx) = &inner.followers {
            // No receiver is fine: nobody follows right now.
            let _ = tx.send(Bytes::from(line));
        }
    }

    /// Writes one line of a run's output, or holds it back while the run repeats the previous
    /// crash (see the module docs).
    fn write_run_line(&self, raw: &[u8], run: &RunOutput) {
        let text = self.text_of(raw);
        let line = stamped(&text);
        let mut state = run.lock();
        let index = state.seen;
        state.seen += 1;
        state.keep(text.clone());
        let repeats = state.repeating
            && index < KEPT_LINES
            && state
                .previous
                .as_ref()
                .is_some_and(|previous| previous.get(index) == Some(&text));
        if repeats {
            state.held.push(line);
            return;
        }
        state.repeating = false;
        for held in std::mem::take(&mut state.held) {
            self.append(held);
        }
        self.append(line);
    }

    /// Writes what `run` holds back: the run answered, its output is not a crash's repeat.
    pub(crate) fn release(&self, run: &RunOutput) {
        let mut state = run.lock();
        state.repeating = false;
        for held in std::mem::take(&mut state.held) {
            self.append(held);
        }
    }

    /// After `run` crashed (its output drained): one line instead of the output when it was
    /// the previous crash's again, else what was held back. Returns the output to compare the
    /// next run with.
    pub(crate) fn finish_crash(&self, run: &RunOutput) -> Arc<Vec<String>> {
        let mut state = run.lock();
        let same = state.repeating
            && state.seen > 0
            && state.seen <= KEPT_LINES
            && state.previous.as_ref().map(|p| p.len()) == Some(state.seen);
        if same {
            state.held.clear();
            let count = state.seen;
            drop(state);
            let lines = match count {
                1 => "line".to_owned(),
                n => format!("{n} lines"),
            };
            self.note(&format!(
                "the {} printed the same {lines} as at its previous crash",
                run.name
            ));
            return run.lock().previous.clone().unwrap_or_default();
        }
        state.repeating = false;
        for held in std::mem::take(&mut state.held) {
            self.append(held);
        }
        Arc::new(state.lines.iter().cloned().collect())
    }

    /// The last `tail` lines (all when `None`); with `follow` and an open log, then every new
    /// line until the log is closed.
    pub(crate) fn read(&self, tail: Option<usize>, follow: bool) -> io::Result<LogStream> {
        // Under the lock, so that no line falls between the snapshot and the subscription.
        let inner = self.lock();
        let head = read_tail(&self.path, tail)?;
        let receiver = if follow {
            inner.followers.as_ref().map(broadcast::Sender::subscribe)
        } else {
            None
        };
        drop(inner);
        let head = futures::stream::iter((!head.is_empty()).then(|| Ok(Bytes::from(head))));
        Ok(match receiver {
            None => head.boxed(),
            Some(receiver) => head.chain(follow_stream(receiver)).boxed(),
        })
    }

    /// Copies every line of `output` into the log until it ends, through `run` when given.
    pub(crate) async fn pump(&self, output: impl AsyncRead + Unpin, run: Option<&RunOutput>) {
        let mut reader = BufReader::with_capacity(16 * 1024, output);
        let mut line = Vec::new();
        loop {
            line.clear();
            match read_line_bounded(&mut reader, &mut line).await {
                Ok(0) => return,
                Ok(_) => match run {
                    Some(run) => self.write_run_line(&line, run),
                    None => self.write_line(&line),
                },
                Err(err) => {
                    self.note(&format!("reading process output failed: {err}"));
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One run of one process's output: its last lines, and what the log holds back while they
/// repeat the previous crash's.
pub(crate) struct RunOutput {
    /// `Qd` or `app`, for the log line that stands for a repeated output.
    name: &'static str,
    state: Mutex<RunState>,
}

struct RunState {
    /// The last [`KEPT_LINES`] lines (secrets masked, unstamped).
    lines: VecDeque<String>,
    /// Lines printed in all.
    seen: usize,
    /// The output of the crash before, when this run follows one.
    previous: Option<Arc<Vec<String>>>,
    /// Whether every line so far repeats `previous`.
    repeating: bool,
    /// Stamped lines not written yet because they repeat `previous`.
    held: Vec<String>,
}

impl RunOutput {
    /// The output of a run of `name`; `previous`: the output of the crash it follows, whose
    /// repeat is not written again.
    pub(crate) fn new(name: &'static str, previous: Option<Arc<Vec<String>>>) -> Self {
        RunOutput {
            name,
            state: Mutex::new(RunState {
                lines: VecDeque::new(),
                seen: 0,
                repeating: previous.is_some(),
                previous,
                held: Vec::new(),
            }),
        }
    }

    /// The last lines printed, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lock().lines.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RunState {
    fn keep(&mut self, text: String) {
        if self.lines.len() == KEPT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text);
    }
}

impl Inner {
    fn append(&mut self, path: &Path, rotate_at: u64, line: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        if self.size > 0 && self.size + line.len() as u64 > rotate_at {
            self.file = None;
            fs::rename(path, older(path))?;
            self.file = Some(OpenOptions::new().create(true).append(true).open(path)?);
            self.size = 0;
        }
        if let Some(file) = &mut self.file {
            file.write_all(line)?;
            self.size += line.len() as u64;
        }
        Ok(())
    }
}

/// The log on disk without an [`InstanceLog`] (an instance this runtime has not run).
pub(crate) fn read_tail(path: &Path, tail: Option<usize>) -> io::Result<Vec<u8>> {
    if tail == Some(0) {
        return Ok(Vec::new());
    }
    let mut all = match fs::read(older(path)) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err),
    };
    match fs::read(path) {
        Ok(bytes) => all.extend_from_slice(&bytes),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let Some(tail) = tail else { return Ok(all) };
    // Skip the final newline, then count `tail` more from the end.
    let body = all.strip_suffix(b"\n").unwrap_or(&all);
    let start = body
        .iter()
        .rposition({
            let mut seen = 0;
            move |&b| {
                seen += usize::from(b == b'\n');
                seen == tail
            }
        })
        .map_or(0, |at| at + 1);
    Ok(all[start..].to_vec())
}

fn follow_stream(receiver: broadcast::Receiver<Bytes>) -> LogStream {
    futures::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(line) => Some((Ok(line), receiver)),
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                let note = format!("{}q8s: {skipped} lines skipped\n", prefix_now());
                Some((Ok(Bytes::from(note)), receiver))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
    .boxed()
}

async fn read_line_bounded(
    reader: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> io::Result<usize> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(line.len());
        }
        let room = MAX_LINE - line.len();
        let window = &available[..available.len().min(room)];
        if let Some(at) = window.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&window[..at]);
            reader.consume(at + 1);
            return Ok(line.len() + 1);
        }
        let taken = window.len();
        line.extend_from_slice(window);
        reader.consume(taken);
        if line.len() >= MAX_LINE {
            return Ok(line.len());
        }
    }
}

fn older(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// `yyyy/mm/dd HH:MM:SS # ` for now, in UTC.
pub(crate) fn prefix_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02} # ",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// `text` as a log line: stamped with the time now unless it has a stamp of its own. Qd's
/// lines have one in this very format; Go's standard logger, which older `waved` releases also
/// print through (`2022/03/04 05:06:07 http: …`, with or without microseconds), writes it
/// without the `#`: such a stamp is kept as the line's one stamp, in this format.
fn stamped(text: &str) -> String {
    if has_prefix(text) {
        return format!("{text}\n");
    }
    if let Some(rest) = after_go_stamp(text) {
        return format!("{} # {rest}\n", &text[..GO_STAMP_LEN]);
    }
    format!("{}{text}\n", prefix_now())
}

/// `yyyy/mm/dd HH:MM:SS`, Go's `log.LstdFlags`.
const GO_STAMP_LEN: usize = 19;

/// What follows a leading `yyyy/mm/dd HH:MM:SS[.ffffff] ` stamp (and a `# ` after it).
pub(crate) fn after_go_stamp(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    const SHAPE: &[u8; GO_STAMP_LEN] = b"0000/00/00 00:00:00";
    let stamped = b.len() > GO_STAMP_LEN
        && SHAPE.iter().zip(b).all(|(&shape, &byte)| match shape {
            b'0' => byte.is_ascii_digit(),
            other => byte == other,
        });
    if !stamped {
        return None;
    }
    let rest = &text[GO_STAMP_LEN..];
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let rest = rest.strip_prefix(' ')?;
    Some(rest.strip_prefix("# ").unwrap_or(rest))
}

/// Whether `text` starts with a `yyyy/mm/dd HH:MM:SS #` stamp.
fn has_prefix(text: &str) -> bool {
    let b = text.as_bytes();
    const SHAPE: &[u8; STAMP_LEN] = b"0000/00/00 00:00:00 #";
    b.len() >= SHAPE.len()
        && SHAPE.iter().zip(b).all(|(&shape, &byte)| match shape {
            b'0' => byte.is_ascii_digit(),
            other => byte == other,
        })
}

#[cfg(test)]
mod tests;
