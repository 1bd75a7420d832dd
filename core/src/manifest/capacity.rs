//! Rules that depend on the server a manifest goes to, so no surface can check
//! them alone: the server calls them at import with its own numbers.

use crate::diagnostic::Diagnostic;
use crate::quantity::binary_size;

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
            idle_suspend: None,
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
}
