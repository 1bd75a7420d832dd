//! The probe: a plain (non-Wave) Python app that reports on its sandbox, for the tests of
//! isolation and limits.

/// A plain (non-Wave) app serving HTTP on `$PORT` that reports on its sandbox:
/// `/env` (its environment), `/headers` (the request's headers, names in lower case), `/probe` (what it can see and write), `/write?…` and `/read`
/// (a file in its volume at `/data`), `/file?path=…` (a file's text, or the error reading it),
/// `/alloc?mb=N` (holds N MiB).
pub const PROBE: &str = include_str!("probe.py");
