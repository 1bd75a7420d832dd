//! [`BackgroundWriter`]: a buffered writer whose writes to the inner writer
//! run on a thread of their own (native targets only).
//!
//! Bundling ends with hundreds of megabytes of stored files (wheels, images)
//! that the writing thread must hash and write after everything before them
//! is compressed: nothing else is left to do in parallel then. Handing the
//! write system calls to another thread lets the hash and the write of
//! those bytes run at the same time, on two cores, at the cost of one copy.

use std::io::{self, Write};
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Size of each buffer handed to the writing thread.
const BUFFER_BYTES: usize = 1 << 20;
/// Full buffers waiting for the writing thread, at most: memory stays under
/// `(QUEUED + 2) × BUFFER_BYTES`.
const QUEUED: usize = 4;

/// Collects bytes in 1 MiB buffers that a dedicated thread writes to the
/// inner writer, in order. [`BackgroundWriter::finish`] waits for every byte
/// to be written and returns the inner writer or the first error.
pub(crate) struct BackgroundWriter<W: Write + Send + 'static> {
    buffer: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    /// Buffers the thread has written, for reuse.
    empty: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> BackgroundWriter<W> {
    /// Starts the writing thread.
    pub(crate) fn new(inner: W) -> io::Result<Self> {
        let (full, full_rx) = mpsc::sync_channel::<Vec<u8>>(QUEUED);
        let (empty_tx, empty) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("q8s-write".into())
            .spawn(move || {
                let mut inner = inner;
                for mut buffer in full_rx {
                    inner.write_all(&buffer)?;
                    buffer.clear();
                    // The other side is gone only once it stopped writing.
                    let _ = empty_tx.send(buffer);
                }
                inner.flush()?;
                Ok(inner)
            })?;
        Ok(BackgroundWriter {
            buffer: Vec::with_capacity(BUFFER_BYTES),
            full: Some(full),
            empty,
            thread: Some(thread),
        })
    }

    /// Hands the current buffer to the thread.
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER_BYTES));
        let buffer = mem::replace(&mut self.buffer, next);
        let sent = match &self.full {
            Some(full) => full.send(buffer).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread stopped on an error: report it.
            Err(self.join().err().unwrap_or_else(stopped))
        }
    }

    /// Closes the queue and waits for the thread.
    fn join(&mut self) -> io::Result<W> {
        self.full = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
            None => Err(stopped()),
        }
    }

    /// Writes what is buffered, waits for the thread to write everything
    /// and flush the inner writer, and returns it.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.send()?;
        self.join()
    }
}

fn stopped() -> io::Error {
    io::Error::other("the writing thread stopped after an error")
}

impl<W: Write + Send + 'static> Write for BackgroundWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BUFFER_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == BUFFER_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    /// Hands buffered bytes to the writing thread without waiting for
    /// them to be written: [`BackgroundWriter::finish`] does that.
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl<W: Write + Send + 'static> Drop for BackgroundWriter<W> {
    fn drop(&mut self) {
        // Unfinished (an error elsewhere): stop the thread, ignore its result.
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records what reaches it, 100 kB at most per call; fails a write that
    /// would take it past `fail_after` bytes.
    #[derive(Debug, Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: Option<usize>,
        flushed: Arc<Mutex<bool>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            let n = buf.len().min(100_000);
            if self.fail_after.is_some_and(|limit| bytes.len() + n > limit) {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            *self.flushed.lock().unwrap() = true;
            Ok(())
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn writes_everything_in_order_and_flushes() {
        let sink = Sink::default();
        let mut writer = BackgroundWriter::new(sink.clone()).unwrap();
        let data = pattern(7 * BUFFER_BYTES + 12_345);
        // Small and large writes, across buffer boundaries.
        let (small, large) = data.split_at(1000);
        for chunk in small.chunks(7) {
            writer.write_all(chunk).unwrap();
        }
        writer.write_all(large).unwrap();
        writer.flush().unwrap();
        writer.finish().unwrap();
        assert_eq!(*sink.bytes.lock().unwrap(), data);
        assert!(*sink.flushed.lock().unwrap());
    }

    #[test]
    fn nothing_written_gives_nothing() {
        let sink = Sink::default();
        BackgroundWriter::new(sink.clone())
            .unwrap()
            .finish()
            .unwrap();
        assert!(sink.bytes.lock().unwrap().is_empty());
    }

    #[test]
    fn the_inner_error_reaches_the_writer() {
        let sink = Sink {
            fail_after: Some(BUFFER_BYTES),
            ..Sink::default()
        };
        let mut writer = BackgroundWriter::new(sink).unwrap();
        let data = pattern(20 * BUFFER_BYTES);
        let err = writer.write_all(&data).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        // Later calls keep failing instead of losing bytes silently.
        assert!(writer.write_all(&data[..2 * BUFFER_BYTES]).is_err());
        assert!(writer.finish().is_err());
    }

    #[test]
    fn the_error_of_the_last_buffer_reaches_finish() {
        let sink = Sink {
            fail_after: Some(10),
            ..Sink::default()
        };
        let mut writer = BackgroundWriter::new(sink).unwrap();
        writer.write_all(&pattern(100)).unwrap();
        writer.write_all(&pattern(100)).unwrap();
        let err = writer.finish().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn dropping_an_unfinished_writer_stops_the_thread() {
        let sink = Sink::default();
        let mut writer = BackgroundWriter::new(sink.clone()).unwrap();
        writer.write_all(&pattern(3 * BUFFER_BYTES)).unwrap();
        drop(writer);
        // The full buffers were written; the partial one is dropped.
        assert_eq!(sink.bytes.lock().unwrap().len(), 3 * BUFFER_BYTES);
    }
}
