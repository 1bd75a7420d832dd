//! The fake's server-side apply: first the fields the manager applied last time and no longer
//! sends are removed from the stored object ([`prune`]: real apply removes the fields a manager
//! stops applying when no other manager owns them), then the applied object is merged in
//! ([`merge`]): maps key by key (what the applier leaves out stays: the server's fields, other
//! writers'), lists and scalars replaced whole. Real apply merges some lists by key (containers
//! and env by name, ports, owner references by uid), keeping items other managers added;
//! q8s is the only writer of the lists it sends, so replacing them gives the same result.

use serde_json::Value;

/// Removes from `stored` what the manager applied `before` and leaves out `now`, map by map
/// (a list is the manager's whole, replaced by the merge).
pub(super) fn prune(stored: &mut Value, before: &Value, now: &Value) {
    let (Value::Object(stored), Value::Object(before)) = (stored, before) else {
        return;
    };
    for (key, was) in before {
        match now.get(key) {
            None => {
                stored.remove(key);
            }
            Some(is) => {
                if let Some(slot) = stored.get_mut(key) {
                    prune(slot, was, is);
                }
            }
        }
    }
}

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

    use super::{merge, prune};

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

    #[test]
    fn what_the_manager_no_longer_applies_goes_and_what_others_set_stays() {
        let before = json!({"metadata": {"labels": {"a": "1", "gone": "x"}},
                            "data": {"k": "v", "old": "o"}, "spec": {"ports": [1]}});
        let now = json!({"metadata": {"labels": {"a": "1"}}, "data": {"k": "v"},
                         "spec": {"ports": [2]}});
        let mut stored = json!({"metadata": {"uid": "u", "labels": {"a": "1", "gone": "x",
                                "theirs": "t"}}, "data": {"k": "v", "old": "o"},
                                "spec": {"ports": [1], "clusterIP": "10.0.0.1"}});
        prune(&mut stored, &before, &now);
        merge(&mut stored, &now);
        assert_eq!(
            stored,
            json!({"metadata": {"uid": "u", "labels": {"a": "1", "theirs": "t"}},
                   "data": {"k": "v"}, "spec": {"ports": [2], "clusterIP": "10.0.0.1"}})
        );
    }
}
