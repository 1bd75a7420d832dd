//! [`write_parallel`]: the bytes of [`write_sequential`](super::write_sequential),
//! with entries read and compressed on every core (native targets only).
//!
//! The calling thread is the only one that writes, strictly in the order
//! given. It also compresses: when the next entry to write is not ready yet,
//! it claims the next unclaimed entry and compresses it itself instead of
//! sleeping. Helpers on the rayon pool (one fewer than the pool's threads)
//! claim entries in the same order. So there are as many busy threads as the
//! pool has, never one more fighting them for a core, and the writer is
//! woken only when the entry it waits for is finished: no thread handoff per
//! entry, no spinning.

use std::any::Any;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::pipeline::WriteStats;
use super::writer::{CompressedEntry, DeterministicZipWriter, compress_entry_owned};

/// Most bytes of finished entries held in memory while an earlier entry
/// is still being compressed. Entries being worked on add at most
/// (threads × their size) on top.
pub const MAX_BUFFERED_BYTES: u64 = 32 << 20;

/// Bytes charged for each finished entry on top of its data, so that a long
/// run of empty files waiting behind a big one is bounded as well.
const ENTRY_OVERHEAD: u64 = 256;

/// Writes the same bytes as [`super::write_sequential`], reading and
/// compressing entries on all the threads of the current rayon pool (the
/// calling thread included) while the calling thread writes finished entries
/// strictly in the given order.
///
/// Memory stays bounded: no new entry is started while more than
/// [`MAX_BUFFERED_BYTES`] of finished entries wait for an earlier one. `read`
/// is called on every thread, so file reading overlaps compression. The
/// first error (from `read` or from `out`) stops the pipeline and is
/// returned; a panic in `read` is resumed on the calling thread. Called from
/// a rayon worker, it uses the other workers of that pool; in a one-thread
/// pool it simply runs sequentially.
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
    let shared = Shared {
        entries,
        read: &read,
        state: Mutex::new(State::default()),
        head_finished: Condvar::new(),
        room: Condvar::new(),
    };
    // Rayon counts the calling thread when it is one of the pool's workers;
    // from outside the pool, the caller takes the place of one worker.
    let helpers = (rayon::current_num_threads().max(1) - 1).min(entries.len().saturating_sub(1));
    let outcome = rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| shared.help());
        }
        // Stops the helpers however the writer leaves: done, failed or
        // panicking (the scope waits for them before returning).
        let _stop = StopOnDrop(&shared);
        shared.write_all(&mut zip, &mut stats)
    });
    match outcome {
        Ok(()) => {}
        Err(Failure::Io(error)) => return Err(error),
        Err(Failure::Panic(payload)) => panic::resume_unwind(payload),
    }
    let (out, len) = zip.finish_with_len()?;
    stats.archive_bytes = len;
    Ok((out, stats))
}

/// Why the pipeline stopped early.
enum Failure {
    Io(io::Error),
    Panic(Box<dyn Any + Send>),
}

/// What the writer and the helpers share.
struct Shared<'a, F> {
    entries: &'a [(String, bool)],
    read: &'a F,
    state: Mutex<State>,
    /// Signalled when the entry the writer waits for is finished, or on failure.
    head_finished: Condvar,
    /// Signalled when written entries free buffer room, or on stop.
    room: Condvar,
}

#[derive(Default)]
struct State {
    /// The first entry nobody has started.
    next_claim: usize,
    /// The next entry to write.
    next_write: usize,
    /// Finished entries waiting for an earlier one.
    finished: BTreeMap<usize, CompressedEntry>,
    /// Their cost in bytes (data plus [`ENTRY_OVERHEAD`] each).
    buffered: u64,
    /// A helper's error or panic, taken by the writer.
    failure: Option<Failure>,
    /// No more claims: the writer is done or has failed.
    stopped: bool,
    /// The writer sleeps on `head_finished`.
    writer_waiting: bool,
    /// Helpers sleeping on `room`.
    helpers_waiting: usize,
}

impl State {
    /// The next entry to start, when there is one and room for its result.
    /// The entry the writer needs is never held back: while it is not
    /// started, nothing after it is finished and nothing is buffered.
    fn claim(&mut self, total: usize) -> Option<usize> {
        if self.stopped || self.next_claim == total || self.buffered > MAX_BUFFERED_BYTES {
            return None;
        }
        self.next_claim += 1;
        Some(self.next_claim - 1)
    }

    /// Files the outcome of entry `index`; true when the writer must be woken.
    fn finish(
        &mut self,
        index: usize,
        outcome: Result<io::Result<CompressedEntry>, Box<dyn Any + Send>>,
    ) -> bool {
        match outcome {
            Ok(Ok(entry)) => {
                self.buffered += cost(&entry);
                self.finished.insert(index, entry);
                index == self.next_write && self.writer_waiting
            }
            Ok(Err(error)) => self.fail(Failure::Io(error)),
            Err(payload) => self.fail(Failure::Panic(payload)),
        }
    }

    /// Keeps the first failure (later ones, and failures after the writer
    /// stopped, are dropped) and stops all claims; the writer must be woken.
    fn fail(&mut self, failure: Failure) -> bool {
        if self.failure.is_none() && !self.stopped {
            self.failure = Some(failure);
        }
        self.stopped = true;
        true
    }
}

fn cost(entry: &CompressedEntry) -> u64 {
    entry.data.len() as u64 + ENTRY_OVERHEAD
}

/// What the writer does next.
enum Step {
    Write(Vec<CompressedEntry>),
    Compress(usize),
    Done,
}

impl<F> Shared<'_, F>
where
    F: Fn(&str) -> io::Result<Vec<u8>> + Sync,
{
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock still
        // holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and compresses entry `index`, catching a panic of `read`.
    fn process(&self, index: usize) -> Result<io::Result<CompressedEntry>, Box<dyn Any + Send>> {
        let (name, executable) = (&self.entries[index].0, self.entries[index].1);
        panic::catch_unwind(AssertUnwindSafe(|| {
            (self.read)(name).map(|bytes| compress_entry_owned(name, bytes, executable))
        }))
    }

    /// A helper: claims and compresses entries until none is left or the
    /// pipeline stops.
    fn help(&self) {
        let mut state = self.lock();
        loop {
            let Some(index) = state.claim(self.entries.len()) else {
                if state.stopped || state.next_claim == self.entries.len() {
                    return;
                }
                state.helpers_waiting += 1;
                state = self
                    .room
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.helpers_waiting -= 1;
                continue;
            };
            drop(state);
            let outcome = self.process(index);
            state = self.lock();
            if state.finish(index, outcome) {
                self.head_finished.notify_one();
            }
            if state.stopped && state.helpers_waiting > 0 {
                self.room.notify_all();
            }
        }
    }

    /// The writer's loop: writes every finished entry in order, compresses
    /// one itself when the next is not ready, sleeps only when it can do
    /// neither.
    fn write_all<W: Write>(
        &self,
        zip: &mut DeterministicZipWriter<W>,
        stats: &mut WriteStats,
    ) -> Result<(), Failure> {
        let total = self.entries.len();
        loop {
            match self.next_step(total)? {
                Step::Write(ready) => {
                    for entry in ready {
                        stats.count(&entry);
                        zip.add(&entry).map_err(Failure::Io)?;
                    }
                }
                Step::Compress(index) => {
                    let outcome = self.process(index);
                    self.lock().finish(index, outcome);
                }
                Step::Done => return Ok(()),
            }
        }
    }

    fn next_step(&self, total: usize) -> Result<Step, Failure> {
        let mut state = self.lock();
        loop {
            if let Some(failure) = state.failure.take() {
                return Err(failure);
            }
            let mut ready = Vec::new();
            loop {
                let next = state.next_write;
                let Some(entry) = state.finished.remove(&next) else {
                    break;
                };
                state.buffered -= cost(&entry);
                state.next_write += 1;
                ready.push(entry);
            }
            if !ready.is_empty() {
                if state.helpers_waiting > 0 {
                    self.room.notify_all();
                }
                return Ok(Step::Write(ready));
            }
            if state.next_write == total {
                return Ok(Step::Done);
            }
            if let Some(index) = state.claim(total) {
                return Ok(Step::Compress(index));
            }
            // The entry to write next is being compressed by a helper.
            state.writer_waiting = true;
            state = self
                .head_finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.writer_waiting = false;
        }
    }
}

/// Stops the helpers when the writer leaves, for whatever reason.
struct StopOnDrop<'s, 'a, F>(&'s Shared<'a, F>);

impl<F> Drop for StopOnDrop<'_, '_, F> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.stopped = true;
        self.0.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::archive::write_sequential;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    fn text(i: usize) -> Vec<u8> {
        format!("line {i} of a file that deflates well\n")
            .repeat(50 + i % 300)
            .into_bytes()
    }

    #[test]
    fn helpers_inside_a_pool_give_the_sequential_bytes() {
        let entries: Vec<_> = (0..300)
            .map(|i| (format!("d{}/f{i:03}.py", i % 7), i % 5 == 0))
            .collect();
        let read = |name: &str| Ok(text(name.len() * 37 + name.as_bytes()[1] as usize));
        let (expected, expected_stats) = write_sequential(&entries, read, Vec::new()).unwrap();
        for threads in [2, 3, 8] {
            let (bytes, stats) = pool(threads)
                .install(|| write_parallel(&entries, read, Vec::new()))
                .unwrap();
            assert_eq!(bytes, expected, "{threads} threads");
            assert_eq!(stats, expected_stats);
        }
    }

    #[test]
    fn many_empty_entries() {
        let entries: Vec<_> = (0..20_000).map(|i| (format!("e{i:05}"), false)).collect();
        let read = |_: &str| Ok(Vec::new());
        let (expected, _) = write_sequential(&entries, read, Vec::new()).unwrap();
        let (bytes, stats) = pool(4)
            .install(|| write_parallel(&entries, read, Vec::new()))
            .unwrap();
        assert_eq!(bytes, expected);
        assert_eq!(stats.stored, 20_000);
    }

    #[test]
    fn a_slow_first_entry_holds_back_at_most_the_buffer_budget() {
        const MIB: usize = 1 << 20;
        const THREADS: usize = 4;
        let entries: Vec<_> = (0..100).map(|i| (format!("{i:03}.png"), false)).collect();
        let content = |name: &str| Ok(vec![name.as_bytes()[2]; MIB]);
        let (expected, _) = write_sequential(&entries, content, Vec::new()).unwrap();
        let started = AtomicUsize::new(0);
        let seen_while_blocked = AtomicUsize::new(0);
        let read = |name: &str| {
            started.fetch_add(1, Ordering::SeqCst);
            if name == "000.png" {
                // Wait until the others stop starting new entries.
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut last = 0;
                loop {
                    std::thread::sleep(Duration::from_millis(300));
                    let now = started.load(Ordering::SeqCst);
                    if now == last || Instant::now() > deadline {
                        break;
                    }
                    last = now;
                }
                seen_while_blocked.store(started.load(Ordering::SeqCst), Ordering::SeqCst);
            }
            content(name)
        };
        let (bytes, stats) = pool(THREADS)
            .install(|| write_parallel(&entries, read, Vec::new()))
            .unwrap();
        assert_eq!(stats.entries, 100);
        assert_eq!(bytes, expected);
        // The slow entry, the 32 finished ones that fill the budget, and at
        // most one more per helper claimed just before it filled.
        let budget = MAX_BUFFERED_BYTES as usize / MIB;
        let seen = seen_while_blocked.load(Ordering::SeqCst);
        assert!(
            (1 + budget..=1 + budget + THREADS - 1).contains(&seen),
            "{seen} entries started while the first one was blocked"
        );
    }

    /// Takes `limit` bytes, then fails.
    struct FailingWriter {
        taken: usize,
        limit: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.taken + buf.len() > self.limit {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
            }
            self.taken += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_writer_stops_everyone() {
        let entries: Vec<_> = (0..2000).map(|i| (format!("f{i:04}.txt"), false)).collect();
        let reads = AtomicUsize::new(0);
        let read = |name: &str| {
            reads.fetch_add(1, Ordering::Relaxed);
            Ok(text(name.len()))
        };
        let out = FailingWriter {
            taken: 0,
            limit: 10_000,
        };
        let Err(err) = pool(4).install(|| write_parallel(&entries, read, out)) else {
            panic!("the writer's error must be returned");
        };
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(reads.load(Ordering::Relaxed) <= entries.len());
    }
}
