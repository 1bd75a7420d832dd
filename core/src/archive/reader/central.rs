//! Strict parsing of the end records, the central directory and the local
//! headers of an untrusted archive. Everything the reader later trusts (names,
//! sizes, data ranges) is checked here, before any entry is inflated.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use super::rules::{self, Problems};
use super::{ArchiveError, Limits, corrupt, diagnostic};
use crate::archive::format::*;
use crate::archive::names::{MAX_NAME_LEN, unsafe_name_reason};

/// One central directory entry that passed the structural checks.
#[derive(Debug, Clone)]
pub(super) struct RawEntry {
    /// The name as stored (a directory keeps its trailing `/`); a lossy
    /// rendering when it is not UTF-8, cut short when it is too long.
    pub(super) name: String,
    /// Why the name is unsafe, if it is.
    pub(super) unsafe_name: Option<&'static str>,
    /// `name` holds the stored bytes exactly.
    pub(super) exact_name: bool,
    pub(super) is_dir: bool,
    pub(super) executable: bool,
    /// `st_mode` from the external attributes, for Unix-made entries.
    pub(super) unix_mode: Option<u32>,
    pub(super) method: u16,
    pub(super) flags: u16,
    pub(super) crc32: u32,
    pub(super) compressed_size: u64,
    pub(super) size: u64,
    pub(super) header_offset: u64,
    /// Where the entry's data starts, known once its local header is read.
    pub(super) data_offset: u64,
}

/// Where the central directory is and how many entries it declares.
struct EndRecord {
    count: u64,
    cd_offset: u64,
    cd_size: u64,
}

/// Reads and checks the whole directory structure: returns the entries in
/// archive order, or every problem found.
pub(super) fn read_directory<R: Read + Seek>(
    reader: &mut R,
    limits: &Limits,
) -> Result<Vec<RawEntry>, ArchiveError> {
    let end = read_end_record(reader)?;
    if end.count > limits.max_entries as u64 {
        return Err(ArchiveError::Invalid(vec![diagnostic(
            "too-many-entries",
            "",
            format!(
                "the archive has {} entries, more than the limit of {}",
                end.count, limits.max_entries
            ),
        )]));
    }
    if end.count.saturating_mul(CENTRAL_HEADER_LEN as u64) > end.cd_size {
        return Err(corrupt(format!(
            "the central directory is too small to hold {} entries",
            end.count
        )));
    }
    let mut problems = Problems::default();
    let mut entries = read_central_directory(reader, &end, limits, &mut problems)?;
    rules::check_names(&entries, &mut problems);
    check_local_headers(reader, &mut entries, end.cd_offset, &mut problems)?;
    problems.into_result(entries)
}

/// Finds the end of central directory record (and its zip64 twin) and
/// checks that the central directory ends exactly where they begin.
fn read_end_record<R: Read + Seek>(reader: &mut R) -> Result<EndRecord, ArchiveError> {
    let file_len = reader.seek(SeekFrom::End(0))?;
    if file_len < EOCD_LEN {
        return Err(corrupt("the file is too short to be a zip archive"));
    }
    let tail_len = file_len.min(EOCD_LEN + u64::from(u16::MAX));
    let tail_start = file_len - tail_len;
    let mut tail = vec![0; tail_len as usize];
    read_exact_at(reader, tail_start, &mut tail)?;
    // A record whose comment reaches exactly the end of the file. Two such
    // records would let tools disagree on what the archive holds.
    let mut candidates = (0..=tail.len() - EOCD_LEN as usize).rev().filter(|&at| {
        u32_at(&tail, at) == EOCD_SIG
            && at + EOCD_LEN as usize + usize::from(u16_at(&tail, at + 20)) == tail.len()
    });
    let eocd_at = candidates
        .next()
        .ok_or_else(|| corrupt("no end of central directory record: not a zip archive"))?;
    if candidates.next().is_some() {
        return Err(corrupt(
            "two end of central directory records: the archive is ambiguous",
        ));
    }
    let eocd = &tail[eocd_at..eocd_at + EOCD_LEN as usize];
    let eocd_pos = tail_start + eocd_at as u64;
    let (disk, cd_disk) = (u16_at(eocd, 4), u16_at(eocd, 6));
    let (disk_count, count) = (u16_at(eocd, 8), u16_at(eocd, 10));
    let (cd_size, cd_offset) = (u32_at(eocd, 12), u32_at(eocd, 16));

    let mut locator = [0u8; ZIP64_LOCATOR_LEN as usize];
    let has_locator = eocd_pos >= ZIP64_LOCATOR_LEN && {
        read_exact_at(reader, eocd_pos - ZIP64_LOCATOR_LEN, &mut locator)?;
        u32_at(&locator, 0) == ZIP64_LOCATOR_SIG
    };
    if !has_locator {
        if disk != 0 || cd_disk != 0 || disk_count != count {
            return Err(corrupt("multi-disk archives are not supported"));
        }
        let end = EndRecord {
            count: u64::from(count),
            cd_offset: u64::from(cd_offset),
            cd_size: u64::from(cd_size),
        };
        return check_directory_span(end, eocd_pos);
    }

    let locator_pos = eocd_pos - ZIP64_LOCATOR_LEN;
    let record_pos = u64_at(&locator, 8);
    if u32_at(&locator, 4) != 0 || u32_at(&locator, 16) > 1 {
        return Err(corrupt("multi-disk archives are not supported"));
    }
    if record_pos
        .checked_add(ZIP64_EOCD_LEN)
        .is_none_or(|end| end > locator_pos)
    {
        return Err(corrupt("the zip64 end record is out of place"));
    }
    let mut record = [0u8; ZIP64_EOCD_LEN as usize];
    read_exact_at(reader, record_pos, &mut record)?;
    let record_size = u64_at(&record, 4);
    if u32_at(&record, 0) != ZIP64_EOCD_SIG
        || record_size < ZIP64_EOCD_LEN - 12
        || record_pos
            .checked_add(12)
            .and_then(|p| p.checked_add(record_size))
            != Some(locator_pos)
    {
        return Err(corrupt("the zip64 end record is invalid"));
    }
    let end = EndRecord {
        count: u64_at(&record, 32),
        cd_size: u64_at(&record, 40),
        cd_offset: u64_at(&record, 48),
    };
    if u32_at(&record, 16) != 0 || u32_at(&record, 20) != 0 || u64_at(&record, 24) != end.count {
        return Err(corrupt("multi-disk archives are not supported"));
    }
    let agrees16 = |small: u16, big: u64| small == u16::MAX || u64::from(small) == big;
    let agrees32 = |small: u32, big: u64| small == u32::MAX || u64::from(small) == big;
    if !(agrees16(disk, 0)
        && agrees16(cd_disk, 0)
        && agrees16(disk_count, end.count)
        && agrees16(count, end.count)
        && agrees32(cd_size, end.cd_size)
        && agrees32(cd_offset, end.cd_offset))
    {
        return Err(corrupt("the end record and the zip64 end record disagree"));
    }
    check_directory_span(end, record_pos)
}

/// The central directory must end exactly where the end records begin: no
/// gap, no prefix, nothing hidden between them.
fn check_directory_span(end: EndRecord, end_records_pos: u64) -> Result<EndRecord, ArchiveError> {
    if end.cd_offset.checked_add(end.cd_size) != Some(end_records_pos) {
        return Err(corrupt(
            "the central directory is not where the end record says it is",
        ));
    }
    Ok(end)
}

/// Parses every central directory header; structural damage is fatal,
/// rule violations of single entries are collected in `problems`.
fn read_central_directory<R: Read + Seek>(
    reader: &mut R,
    end: &EndRecord,
    limits: &Limits,
    problems: &mut Problems,
) -> Result<Vec<RawEntry>, ArchiveError> {
    reader.seek(SeekFrom::Start(end.cd_offset))?;
    let mut cd = BufReader::with_capacity(64 << 10, reader.take(end.cd_size));
    let mut entries = Vec::with_capacity(end.count as usize);
    let mut consumed: u64 = 0;
    let mut declared_total: u64 = 0;
    let mut header = [0u8; CENTRAL_HEADER_LEN];
    let mut extra = Vec::new();
    for index in 0..end.count {
        read_cd(&mut cd, &mut header)?;
        if u32_at(&header, 0) != CENTRAL_HEADER_SIG {
            return Err(corrupt(format!(
                "central directory entry {index} has no valid signature"
            )));
        }
        let name_len = usize::from(u16_at(&header, 28));
        let extra_len = usize::from(u16_at(&header, 30));
        let comment_len = u64::from(u16_at(&header, 32));
        let mut raw_name = vec![0u8; name_len];
        read_cd(&mut cd, &mut raw_name)?;
        extra.resize(extra_len, 0);
        read_cd(&mut cd, &mut extra)?;
        let skipped = io::copy(&mut (&mut cd).take(comment_len), &mut io::sink())?;
        if skipped != comment_len {
            return Err(corrupt("the central directory is truncated"));
        }
        consumed += (CENTRAL_HEADER_LEN + name_len + extra_len) as u64 + comment_len;

        let entry = parse_entry(&header, raw_name, &extra)?;
        rules::check_entry(index as usize, &entry, limits, problems);
        declared_total = declared_total.saturating_add(entry.size);
        entries.push(entry);
    }
    if consumed != end.cd_size {
        return Err(corrupt(format!(
            "the central directory has {} bytes after its last entry",
            end.cd_size - consumed
        )));
    }
    if declared_total > limits.max_total_size {
        problems.archive(diagnostic(
            "too-large",
            "",
            format!(
                "the entries declare {declared_total} bytes in all, more than the limit of {}",
                limits.max_total_size
            ),
        ));
    }
    Ok(entries)
}

/// Reads exactly `buf.len()` bytes of the central directory.
fn read_cd(cd: &mut impl BufRead, buf: &mut [u8]) -> Result<(), ArchiveError> {
    cd.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("the central directory is truncated"),
        _ => ArchiveError::Io(err),
    })
}

/// Decodes one central header, resolving zip64 sentinels from the extra field.
fn parse_entry(header: &[u8], raw_name: Vec<u8>, extra: &[u8]) -> Result<RawEntry, ArchiveError> {
    let (name, exact_name, unsafe_name) = decode_name(raw_name);
    let made_by_host = (u16_at(header, 4) >> 8) as u8;
    let flags = u16_at(header, 8);
    let method = u16_at(header, 10);
    let crc32 = u32_at(header, 16);
    let mut compressed_size = u64::from(u32_at(header, 20));
    let mut size = u64::from(u32_at(header, 24));
    let mut disk = u32::from(u16_at(header, 34));
    let external = u32_at(header, 38);
    let mut header_offset = u64::from(u32_at(header, 42));

    let bad = |what: &str| corrupt(format!("entry {name:?}: {what}"));
    let mut zip64 = None;
    let mut at = 0;
    while at < extra.len() {
        if at + 4 > extra.len() {
            return Err(bad("malformed extra field"));
        }
        let (id, len) = (u16_at(extra, at), usize::from(u16_at(extra, at + 2)));
        let body = extra
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| bad("malformed extra field"))?;
        if id == ZIP64_EXTRA_ID {
            if zip64.is_some() {
                return Err(bad("two zip64 extra fields"));
            }
            zip64 = Some(body);
        }
        at += 4 + len;
    }
    let mut zip64 = zip64.unwrap_or(&[]);
    let mut take_u64 = |field: &mut u64| -> Result<(), ArchiveError> {
        if *field == u64::from(u32::MAX) {
            let value = zip64.get(..8).ok_or_else(|| bad("missing zip64 value"))?;
            *field = u64_at(value, 0);
            zip64 = &zip64[8..];
        }
        Ok(())
    };
    take_u64(&mut size)?;
    take_u64(&mut compressed_size)?;
    take_u64(&mut header_offset)?;
    if disk == u32::from(u16::MAX) {
        let value = zip64.get(..4).ok_or_else(|| bad("missing zip64 value"))?;
        disk = u32_at(value, 0);
    }
    if disk != 0 {
        return Err(bad("starts on another disk of a multi-disk archive"));
    }

    let is_dir = name.ends_with('/');
    let unix_mode = matches!(made_by_host, HOST_UNIX | 19).then_some(external >> 16);
    Ok(RawEntry {
        executable: !is_dir && unix_mode.is_some_and(|mode| mode & 0o111 != 0),
        name,
        unsafe_name,
        exact_name,
        is_dir,
        method,
        flags,
        unix_mode,
        crc32,
        compressed_size,
        size,
        header_offset,
        data_offset: 0,
    })
}

/// The name as text, whether it is exactly the stored bytes, and why it is
/// unsafe. Only the first [`MAX_NAME_LEN`] bytes of a longer name are kept,
/// so a hostile directory cannot make the reader hold much more than
/// `max_entries` × 4 KiB of names.
fn decode_name(mut raw: Vec<u8>) -> (String, bool, Option<&'static str>) {
    if raw.len() > MAX_NAME_LEN {
        raw.truncate(MAX_NAME_LEN);
        let mut name = String::from_utf8_lossy(&raw).into_owned();
        name.push('…');
        return (name, false, Some("is longer than 4096 bytes"));
    }
    match String::from_utf8(raw) {
        Ok(name) => {
            let path = name.strip_suffix('/').unwrap_or(&name);
            let reason = unsafe_name_reason(path);
            (name, true, reason)
        }
        Err(err) => (
            String::from_utf8_lossy(err.as_bytes()).into_owned(),
            false,
            Some("is not valid UTF-8"),
        ),
    }
}

/// Reads every entry's local header: it must be where the central directory
/// says, agree with it, and no two entries (nor an entry and the central
/// directory) may share bytes. Sets each entry's `data_offset`.
fn check_local_headers<R: Read + Seek>(
    reader: &mut R,
    entries: &mut [RawEntry],
    cd_offset: u64,
    problems: &mut Problems,
) -> Result<(), ArchiveError> {
    let mut spans = Vec::with_capacity(entries.len());
    let mut header = [0u8; LOCAL_HEADER_LEN as usize];
    let mut local_name = Vec::new();
    for (index, entry) in entries.iter_mut().enumerate() {
        let name = entry.name.as_str();
        let mut problem =
            |code: &str, message: String| problems.entry(index, diagnostic(code, name, message));
        if entry.header_offset.saturating_add(LOCAL_HEADER_LEN) > cd_offset {
            problem(
                "overlapping-entries",
                format!("the local header of {name:?} overlaps the central directory"),
            );
            continue;
        }
        read_exact_at(reader, entry.header_offset, &mut header)?;
        if u32_at(&header, 0) != LOCAL_HEADER_SIG {
            problem(
                "corrupt-archive",
                format!(
                    "no local header for {name:?} at offset {}",
                    entry.header_offset
                ),
            );
            continue;
        }
        let name_len = u64::from(u16_at(&header, 26));
        let extra_len = u64::from(u16_at(&header, 28));
        let data_offset = entry.header_offset + LOCAL_HEADER_LEN + name_len + extra_len;
        let Some(data_end) = data_offset
            .checked_add(entry.compressed_size)
            .filter(|&end| end <= cd_offset)
        else {
            problem(
                "overlapping-entries",
                format!("the data of {name:?} runs into the central directory"),
            );
            continue;
        };
        local_name.resize(name_len as usize, 0);
        read_exact_at(
            reader,
            entry.header_offset + LOCAL_HEADER_LEN,
            &mut local_name,
        )?;
        let sizes_follow = entry.flags & FLAG_DATA_DESCRIPTOR != 0;
        let agrees32 = |local: u32, central: u64| local == u32::MAX || u64::from(local) == central;
        if entry.exact_name && local_name != entry.name.as_bytes() {
            problem(
                "corrupt-archive",
                format!("the local header of {name:?} names another file"),
            );
        } else if u16_at(&header, 8) != entry.method
            || (!sizes_follow
                && (u32_at(&header, 14) != entry.crc32
                    || !agrees32(u32_at(&header, 18), entry.compressed_size)
                    || !agrees32(u32_at(&header, 22), entry.size)))
        {
            problem(
                "corrupt-archive",
                format!("the local header of {name:?} disagrees with the central directory"),
            );
        }
        entry.data_offset = data_offset;
        spans.push((entry.header_offset, data_end, index));
    }

    spans.sort_unstable();
    let mut furthest: Option<(u64, usize)> = None;
    for &(start, end, index) in &spans {
        if let Some((reach, holder)) = furthest {
            if start < reach {
                let (name, other) = (&entries[index].name, &entries[holder].name);
                problems.entry(
                    index,
                    diagnostic(
                        "overlapping-entries",
                        name,
                        format!("{name:?} overlaps {other:?} in the archive"),
                    ),
                );
            }
            if end <= reach {
                continue;
            }
        }
        furthest = Some((end, index));
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(super) fn read_exact_at<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), ArchiveError> {
    reader.seek(SeekFrom::Start(offset))?;
    reader.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("the archive ends unexpectedly"),
        _ => ArchiveError::Io(err),
    })
}
