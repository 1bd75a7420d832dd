//! Processes of an instance, found the way an attacker or an operator would: in `/proc`.

/// The live processes whose environment names the instance (bwrap, Qd, the app and their
/// children), zombies left out.
pub fn pids_of(id: &str) -> Vec<u32> {
    let needle = format!("Q8S_INSTANCE_ID={id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Zombies awaiting their parent's wait are gone already in all but name.
        if !state
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            found.push(pid);
        }
    }
    found
}

/// [`pids_of`] with their command lines, as `pid: command args…`.
pub fn processes_of(id: &str) -> Vec<String> {
    pids_of(id)
        .into_iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            )
        })
        .collect()
}
