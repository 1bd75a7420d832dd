//! Hand-crafted zip archives for the archive tests: every header field is
//! set explicitly, so hostile archives can lie in exactly one place.
#![allow(dead_code)]

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// One entry as it will be laid out, every field under the test's control.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// The bytes written after the local header (already compressed).
    pub data: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed_size: u32,
    pub size: u32,
    pub made_by: u16,
    pub external: u32,
    /// Name written in the local header, when it should differ.
    pub local_name: Option<Vec<u8>>,
    /// Do not write a local record: the central directory points here.
    pub at: Option<u32>,
}

impl RawEntry {
    /// A stored regular file, mode 0644, made on Unix.
    pub fn stored(name: impl AsRef<[u8]>, content: &[u8]) -> Self {
        RawEntry {
            name: name.as_ref().to_vec(),
            data: content.to_vec(),
            method: 0,
            flags: 0,
            crc32: crc32fast::hash(content),
            compressed_size: content.len() as u32,
            size: content.len() as u32,
            made_by: (3 << 8) | 20,
            external: 0o100644 << 16,
            local_name: None,
            at: None,
        }
    }

    /// A deflated regular file.
    pub fn deflated(name: impl AsRef<[u8]>, content: &[u8]) -> Self {
        let data = deflate(content);
        RawEntry {
            compressed_size: data.len() as u32,
            data,
            method: 8,
            ..RawEntry::stored(name, content)
        }
    }

    pub fn with(mut self, change: impl FnOnce(&mut RawEntry)) -> Self {
        change(&mut self);
        self
    }

    /// The local header, name and data of this entry.
    pub fn local_record(&self) -> Vec<u8> {
        let name = self.local_name.as_ref().unwrap_or(&self.name);
        let mut out = Vec::new();
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.compressed_size.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.data);
        out
    }
}

/// Raw deflate at level 6.
pub fn deflate(content: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

/// Lays out the entries: local records in order, then the central directory
/// and the end record.
pub fn build(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for entry in entries {
        match entry.at {
            Some(at) => offsets.push(at),
            None => {
                offsets.push(out.len() as u32);
                out.extend_from_slice(&entry.local_record());
            }
        }
    }
    let cd_offset = out.len() as u32;
    for (entry, offset) in entries.iter().zip(offsets) {
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&entry.made_by.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&entry.flags.to_le_bytes());
        out.extend_from_slice(&entry.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x21u16.to_le_bytes());
        out.extend_from_slice(&entry.crc32.to_le_bytes());
        out.extend_from_slice(&entry.compressed_size.to_le_bytes());
        out.extend_from_slice(&entry.size.to_le_bytes());
        out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal
        out.extend_from_slice(&entry.external.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&entry.name);
    }
    let cd_size = out.len() as u32 - cd_offset;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
