//! The fake's server-side apply: the applied object merged into the stored one. Maps merge key
//! by key (what the applier leaves out stays); lists and scalars are replaced whole. Real apply
//! also removes fields the manager set before and no longer sends, and merges some lists by
//! key; q8s always sends whole objects, so this is enough to tell "changed" from "the same".

use serde_json::Value;

/// Merges `applied` into `stored`.
pub(super) fn merge(stored: &mut Value, applied: &Value) {
    match (stored, applied) {
        (Value::Object(stored), Value::Object(applied)) => {
            for (key, value) in applied {
                match stored.get_mut(key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        stored.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (stored, applied) => *stored = applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge;

    #[test]
    fn maps_merge_and_lists_are_replaced() {
        let mut stored =
            json!({"metadata": {"uid": "u", "labels": {"a": "1"}}, "spec": {"ports": [1, 2]}});
        merge(
            &mut stored,
            &json!({"metadata": {"labels": {"b": "2"}}, "spec": {"ports": [3]}}),
        );
        assert_eq!(
            stored,
            json!({"metadata": {"uid": "u", "labels": {"a": "1", "b": "2"}}, "spec": {"ports": [3]}})
        );
    }
}
