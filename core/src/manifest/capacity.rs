//! Rules that depend on the server a manifest goes to, so no surface can check
//! them alone: the server calls them at import with its own numbers.

use crate::diagnostic::Diagnostic;

use super::{Runtime, codes, quantity_bytes};

impl Runtime {
    /// The errors of a `MemoryLimit` or `MemoryReservation` above `capacity`
    /// bytes, the most memory the server can give one instance (code
    /// `memory-above-capacity`, one per field). Such an instance could never
    /// start, or would run without its limit: the server refuses it at import.
    ///
    /// ```
    /// # use q8s_core::manifest::validate_manifest;
    /// let text = "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"app\"\n\
    ///             MemoryLimit = \"15Ei\"\n";
    /// let runtime = validate_manifest(text).manifest.unwrap().runtime;
    /// let errors = runtime.check_memory_capacity(1 << 30);
    /// assert_eq!(errors[0].code, "memory-above-capacity");
    /// assert_eq!(
    ///     errors[0].message,
    ///     "Runtime.MemoryLimit \"15Ei\" is more than the server's memory capacity of 1Gi"
    /// );
    /// assert!(runtime.check_memory_capacity(u64::MAX).is_empty());
    /// ```
    pub fn check_memory_capacity(&self, capacity: u64) -> Vec<Diagnostic> {
        let fields = [
            ("MemoryLimit", &self.memory_limit),
            ("MemoryReservation", &self.memory_reservation),
        ];
        fields
            .into_iter()
            .filter_map(|(key, value)| {
                let value = value.as_deref()?;
                let bytes = quantity_bytes(Some(value))?;
                (bytes > capacity).then(|| {
                    let capacity = binary_size(capacity);
                    Diagnostic::error(
                        codes::MEMORY_ABOVE_CAPACITY,
                        format!("Runtime.{key}"),
                        format!(
                            "Runtime.{key} {value:?} is more than the server's memory capacity of {capacity}"
                        ),
                    )
                    .with_help(format!(
                        "ask for at most {capacity}; an instance can never have more on this server"
                    ))
                })
            })
            .collect()
    }
}

/// Bytes as a binary quantity: exact when a unit divides them into a short
/// number (`1Gi`, `1025Mi`), else to a tenth (`23.5Gi`).
fn binary_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("Ei", 1 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    let exact =
        |(_, size): &&(&str, u64)| bytes >= *size && bytes % size == 0 && bytes / size < 10_000;
    if let Some((unit, size)) = UNITS.iter().find(exact) {
        return format!("{}{unit}", bytes / size);
    }
    match UNITS.iter().find(|(_, s)| bytes >= *s) {
        Some((unit, size)) => format!("{:.1}{unit}", bytes as f64 / *size as f64),
        None => bytes.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(limit: Option<&str>, reservation: Option<&str>) -> Runtime {
        Runtime {
            module: "app".into(),
            volume_mount: None,
            volume_size: None,
            memory_limit: limit.map(Into::into),
            memory_reservation: reservation.map(Into::into),
        }
    }

    #[test]
    fn each_field_above_the_capacity_is_an_error() {
        let gi = 1u64 << 30;
        assert!(
            runtime(Some("1Gi"), Some("512Mi"))
                .check_memory_capacity(gi)
                .is_empty()
        );
        assert!(runtime(None, None).check_memory_capacity(1).is_empty());
        let errors = runtime(Some("2Gi"), Some("1025Mi")).check_memory_capacity(gi);
        let paths: Vec<&str> = errors.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["Runtime.MemoryLimit", "Runtime.MemoryReservation"]);
        // Only a limit: the implied reservation is not reported a second time.
        assert_eq!(
            runtime(Some("2Gi"), None).check_memory_capacity(gi).len(),
            1
        );
    }

    #[test]
    fn sizes_read_as_quantities() {
        assert_eq!(binary_size(1 << 30), "1Gi");
        assert_eq!(binary_size(64 << 20), "64Mi");
        assert_eq!(binary_size(25_276_194_816), "23.5Gi");
        assert_eq!(binary_size(1025 << 20), "1025Mi");
        assert_eq!(binary_size(1000), "1000");
        assert_eq!(binary_size(0), "0");
        assert_eq!(binary_size(0), "0");
        assert_eq!(binary_size(15 << 60), "15Ei");
    }
}
