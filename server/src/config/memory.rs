//! The machine's memory and what instances may reserve of it by default.

/// What instances may reserve of a machine with `total` bytes of memory when no
/// `--memory-capacity` is given: all but room for the host (its own processes, the server,
/// the page cache that keeps environments and bundles warm), 1 GiB or a sixteenth of the
/// memory, whichever is more, and never less than half.
pub fn default_memory_capacity(total: u64) -> u64 {
    let room = (1u64 << 30).max(total / 16);
    total.saturating_sub(room).max(total / 2)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub(super) fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}
