//! The fake's garbage collector: deleting an object deletes the objects that name it in their
//! `ownerReferences` (by uid), as the cluster's collector does, after the `propagationPolicy`
//! of the delete's options — `Background` (the default here, as for `apps/v1`: the owner
//! goes, then its dependents), `Foreground` (the owner is marked deleted with the
//! `foregroundDeletion` finalizer, its dependents go, then it goes) or `Orphan` (the
//! dependents stay, without the reference). A dependent with another owner left keeps
//! existing. The real collector works asynchronously; the fake does it within the request.

use serde_json::{Value, json};

use super::{Key, State};

impl State {
    /// Deletes the object under `key` with the policy of `options` (a `DeleteOptions` body, or
    /// `null`), and what it owns; the deleted owner, as it was.
    pub(super) fn delete(&mut self, key: &Key, options: &Value) -> Option<Value> {
        let policy = options["propagationPolicy"]
            .as_str()
            .unwrap_or("Background");
        let owner = self.objects.get(key)?.clone();
        let uid = owner["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match policy {
            "Orphan" => {
                let deleted = self.unstore(key);
                self.release(&key.1, &uid, false);
                deleted
            }
            "Foreground" => {
                let mut marked = owner.clone();
                marked["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                marked["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
                marked["metadata"]["resourceVersion"] = json!(self.next_version());
                self.store(key.clone(), marked);
                self.release(&key.1, &uid, true);
                self.unstore(key)
            }
            _ => {
                let deleted = self.unstore(key);
                self.release(&key.1, &uid, true);
                deleted
            }
        }
    }

    /// Removes the references to `uid` from the objects of `namespace`; with `collect`, those
    /// left without an owner are deleted (and what they own, in the background).
    fn release(&mut self, namespace: &str, uid: &str, collect: bool) {
        let dependents: Vec<Key> = self
            .objects
            .iter()
            .filter(|(k, v)| k.1 == namespace && owned_by(v, uid))
            .map(|(k, _)| k.clone())
            .collect();
        for key in dependents {
            let Some(mut object) = self.objects.get(&key).cloned() else {
                continue;
            };
            let refs = object["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let left: Vec<Value> = refs.into_iter().filter(|r| r["uid"] != uid).collect();
            if collect && left.is_empty() {
                self.delete(&key, &Value::Null);
                continue;
            }
            if left.is_empty() {
                if let Some(meta) = object["metadata"].as_object_mut() {
                    meta.remove("ownerReferences");
                }
            } else {
                object["metadata"]["ownerReferences"] = json!(left);
            }
            object["metadata"]["resourceVersion"] = json!(self.next_version());
            self.store(key, object);
        }
    }
}

/// Whether `object` names `uid` among its owners.
fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}
