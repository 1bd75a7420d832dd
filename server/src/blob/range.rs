//! A remote blob as `Read + Seek` through ranged GETs, so core's archive reader can read a
//! bundle's directory and one file of it without fetching the whole blob.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The least one request fetches: reads of an archive's headers are small and close together.
const BLOCK: u64 = 64 << 10;

/// A blob of `size` bytes read by range. Blocking: use it on a blocking thread of a Tokio
/// runtime (it waits for each request on the runtime it was created in).
pub(super) struct RangeReader {
    store: Arc<dyn ObjectStore>,
    location: ObjectPath,
    size: u64,
    position: u64,
    /// The last block fetched and where it starts.
    block: (u64, Bytes),
    runtime: tokio::runtime::Handle,
}

impl RangeReader {
    /// A reader of `location`, whose size is `size`. Call from within a Tokio runtime.
    pub(super) fn new(store: Arc<dyn ObjectStore>, location: ObjectPath, size: u64) -> Self {
        RangeReader {
            store,
            location,
            size,
            position: 0,
            block: (0, Bytes::new()),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn fetch(&self, range: Range<u64>) -> io::Result<Bytes> {
        self.runtime
            .block_on(self.store.get_range(&self.location, range))
            .map_err(io::Error::other)
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.position >= self.size {
            return Ok(0);
        }
        let (start, block) = &self.block;
        let in_block = self.position >= *start && self.position < start + block.len() as u64;
        if !in_block {
            let want = (buf.len() as u64).max(BLOCK);
            let end = (self.position + want).min(self.size);
            let bytes = self.fetch(self.position..end)?;
            if bytes.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the store returned an empty range",
                ));
            }
            self.block = (self.position, bytes);
        }
        let (start, block) = &self.block;
        let offset = (self.position - start) as usize;
        let n = buf.len().min(block.len() - offset);
        buf[..n].copy_from_slice(&block[offset..offset + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(n) => self.size.checked_add_signed(n),
            SeekFrom::Current(n) => self.position.checked_add_signed(n),
        };
        self.position = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_and_seeks_like_the_bytes_themselves() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let store = Arc::new(InMemory::new());
        let location = ObjectPath::from("blob");
        store.put(&location, bytes.clone().into()).await.unwrap();
        let mut reader = RangeReader::new(store, location, bytes.len() as u64);
        let expected = bytes.clone();
        tokio::task::spawn_blocking(move || {
            let mut tail = [0u8; 22];
            reader.seek(SeekFrom::End(-22)).unwrap();
            reader.read_exact(&mut tail).unwrap();
            assert_eq!(tail, expected[expected.len() - 22..]);
            reader.seek(SeekFrom::Start(70_000)).unwrap();
            let mut middle = vec![0u8; 100_000];
            reader.read_exact(&mut middle).unwrap();
            assert_eq!(middle, expected[70_000..170_000]);
            reader.seek(SeekFrom::Current(-10)).unwrap();
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, expected[169_990..]);
            assert!(reader.seek(SeekFrom::Current(-300_000)).is_err());
        })
        .await
        .unwrap();
    }
}
