//! Writing a whole archive from a list of entries and a way to read each one:
//! sequentially on every target, in parallel on native targets. Both give the
//! same bytes, because each entry is compressed on its own by the same
//! function and written in the order given.

use std::io::{self, Write};

use super::writer::{CompressedEntry, DeterministicZipWriter, compress_entry_owned};

/// What was written by [`write_sequential`] or [`write_parallel`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Entries written.
    pub entries: u64,
    /// Entries written deflated.
    pub deflated: u64,
    /// Entries written stored.
    pub stored: u64,
    /// Uncompressed bytes of all entries.
    pub input_bytes: u64,
    /// Bytes of the archive.
    pub archive_bytes: u64,
}

impl WriteStats {
    fn count(&mut self, entry: &CompressedEntry) {
        self.entries += 1;
        self.input_bytes += entry.size;
        if entry.deflated {
            self.deflated += 1;
        } else {
            self.stored += 1;
        }
    }
}

/// Writes an archive of `entries` (name, executable), in that order, reading
/// each entry's bytes with `read`, on the current thread.
pub fn write_sequential<W, F>(
    entries: &[(String, bool)],
    mut read: F,
    out: W,
) -> io::Result<(W, WriteStats)>
where
    W: Write,
    F: FnMut(&str) -> io::Result<Vec<u8>>,
{
    let mut zip = DeterministicZipWriter::new(out);
    let mut stats = WriteStats::default();
    for (name, executable) in entries {
        let entry = compress_entry_owned(name, read(name)?, *executable);
        stats.count(&entry);
        zip.add(&entry)?;
    }
    let (out, len) = zip.finish_with_len()?;
    stats.archive_bytes = len;
    Ok((out, stats))
}

#[cfg(not(target_family = "wasm"))]
pub use parallel::{MAX_BUFFERED_BYTES, write_parallel};

#[cfg(not(target_family = "wasm"))]
mod parallel {
    use std::collections::BTreeMap;
    use std::io::{self, Write};
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{self, Receiver, TryRecvError};
    use std::time::Duration;

    use super::WriteStats;
    use crate::archive::writer::{CompressedEntry, DeterministicZipWriter, compress_entry_owned};

    /// Most bytes of finished entries held in memory while an earlier entry
    /// is still being compressed. Entries being worked on add at most
    /// (tasks in flight × their size) on top.
    pub const MAX_BUFFERED_BYTES: u64 = 32 << 20;

    type TaskResult = Result<io::Result<CompressedEntry>, Box<dyn std::any::Any + Send>>;

    /// Writes the same bytes as [`super::write_sequential`], reading and
    /// compressing entries on the rayon thread pool while the calling thread
    /// writes finished entries strictly in the given order.
    ///
    /// Memory stays bounded: no new entry is started while more than
    /// [`MAX_BUFFERED_BYTES`] of finished entries wait for an earlier one, and
    /// at most a few entries per thread are in flight. `read` is called on
    /// the worker threads, so file reading overlaps compression. The first
    /// error (from `read` or from `out`) stops the pipeline and is returned;
    /// a panic in `read` is resumed on the calling thread.
    pub fn write_parallel<W, F>(
        entries: &[(String, bool)],
        read: F,
        out: W,
    ) -> io::Result<(W, WriteStats)>
    where
        W: Write,
        F: Fn(&str) -> io::Result<Vec<u8>> + Sync,
    {
        let mut zip = DeterministicZipWriter::new(out);
        let mut stats = WriteStats::default();
        let cancelled = AtomicBool::new(false);
        // The calling thread only writes: it is not one of the pool's
        // workers, which all compress.
        rayon::in_place_scope(|scope| {
            let outcome = run(scope, entries, &read, &cancelled, &mut zip, &mut stats);
            if outcome.is_err() {
                // Tasks still queued skip their work; the scope waits for them.
                cancelled.store(true, Ordering::Relaxed);
            }
            outcome
        })?;
        let (out, len) = zip.finish_with_len()?;
        stats.archive_bytes = len;
        Ok((out, stats))
    }

    fn run<'scope, W, F>(
        scope: &rayon::Scope<'scope>,
        entries: &'scope [(String, bool)],
        read: &'scope F,
        cancelled: &'scope AtomicBool,
        zip: &mut DeterministicZipWriter<W>,
        stats: &mut WriteStats,
    ) -> io::Result<()>
    where
        W: Write,
        F: Fn(&str) -> io::Result<Vec<u8>> + Sync,
    {
        let max_in_flight = (rayon::current_num_threads() * 4).max(8);
        let (sender, receiver) = mpsc::channel::<(usize, TaskResult)>();
        let mut finished: BTreeMap<usize, CompressedEntry> = BTreeMap::new();
        let mut buffered: u64 = 0;
        let (mut next_spawn, mut next_write) = (0, 0);
        loop {
            while let Some(entry) = finished.remove(&next_write) {
                buffered -= entry.data.len() as u64;
                stats.count(&entry);
                zip.add(&entry)?;
                next_write += 1;
            }
            if next_write == entries.len() {
                return Ok(());
            }
            // Entry `next_write` is never held back: when it has not been
            // started, nothing after it has finished and `buffered` is 0.
            while next_spawn < entries.len()
                && next_spawn - next_write < max_in_flight
                && buffered <= MAX_BUFFERED_BYTES
            {
                let index = next_spawn;
                let (name, executable) = (entries[index].0.as_str(), entries[index].1);
                let sender = sender.clone();
                scope.spawn(move |_| {
                    if cancelled.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        read(name).map(|bytes| compress_entry_owned(name, bytes, executable))
                    }));
                    // The receiver is gone only when the writer stopped.
                    let _ = sender.send((index, result));
                });
                next_spawn += 1;
            }
            let (index, result) = next_result(&receiver);
            match result {
                Ok(Ok(entry)) => {
                    buffered += entry.data.len() as u64;
                    finished.insert(index, entry);
                }
                Ok(Err(error)) => return Err(error),
                Err(payload) => {
                    cancelled.store(true, Ordering::Relaxed);
                    panic::resume_unwind(payload)
                }
            }
        }
    }

    /// Waits for the next finished entry. On a thread outside the pool this
    /// simply blocks. On a pool worker (`write_parallel` called from inside
    /// rayon) blocking would take a worker away — and with a one-thread pool
    /// deadlock, since our tasks sit in this worker's own queue — so the
    /// wait runs pending jobs meanwhile.
    fn next_result(receiver: &Receiver<(usize, TaskResult)>) -> (usize, TaskResult) {
        const IN_FLIGHT: &str = "entry `next_write` is in flight and holds a sender";
        if rayon::current_thread_index().is_none() {
            return receiver.recv().expect(IN_FLIGHT);
        }
        loop {
            match receiver.try_recv() {
                Ok(result) => return result,
                Err(TryRecvError::Disconnected) => panic!("{IN_FLIGHT}"),
                Err(TryRecvError::Empty) => {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        if let Ok(result) = receiver.recv_timeout(Duration::from_millis(1)) {
                            return result;
                        }
                    }
                }
            }
        }
    }
}
