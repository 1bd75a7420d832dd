//! Which objects a request is about: its path (`/api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]`
//! or `/apis/<group>/<version>/namespaces/…`) and query (`labelSelector`, `fieldManager`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Key;

#[derive(Clone)]
pub(super) struct Route {
    /// `api/v1` or `apis/<group>/<version>`.
    pub(super) prefix: String,
    pub(super) namespace: String,
    pub(super) plural: String,
    pub(super) name: Option<String>,
    pub(super) subresource: Option<String>,
    pub(super) query: BTreeMap<String, String>,
}

impl Route {
    pub(super) fn parse(uri: &http::Uri) -> Option<Route> {
        let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let (prefix, rest) = match parts.as_slice() {
            ["api", "v1", rest @ ..] => ("api/v1".to_owned(), rest),
            ["apis", group, version, rest @ ..] => (format!("apis/{group}/{version}"), rest),
            _ => return None,
        };
        let ["namespaces", namespace, plural, rest @ ..] = rest else {
            return None;
        };
        let (name, subresource) = match rest {
            [] => (None, None),
            [name] => (Some(name.to_string()), None),
            [name, sub] => (Some(name.to_string()), Some(sub.to_string())),
            _ => return None,
        };
        let query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Some(Route {
            prefix,
            namespace: namespace.to_string(),
            plural: plural.to_string(),
            name,
            subresource,
            query,
        })
    }

    /// Whether it asks to watch (`?watch=true` on a list path).
    pub(super) fn is_watch(&self) -> bool {
        self.name.is_none()
            && matches!(
                self.query.get("watch").map(String::as_str),
                Some("true" | "1")
            )
    }

    pub(super) fn key(&self) -> Key {
        (
            self.prefix.clone(),
            self.namespace.clone(),
            self.plural.clone(),
            self.name.clone().unwrap_or_default(),
        )
    }

    /// Whether `key` is of this route's kind and namespace.
    pub(super) fn holds(&self, key: &Key) -> bool {
        key.0 == self.prefix && key.1 == self.namespace && key.2 == self.plural
    }

    /// Whether `object` matches the `labelSelector` (equality terms `k=v`, `k==v`, `k!=v`,
    /// comma-separated; a term of another form matches nothing, so a selector the fake does
    /// not understand can never select too much).
    pub(super) fn selects(&self, object: &Value) -> bool {
        let Some(selector) = self.query.get("labelSelector") else {
            return true;
        };
        let labels = &object["metadata"]["labels"];
        selector.split(',').filter(|t| !t.is_empty()).all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels[k.trim()].as_str() == Some(v.trim())
            } else {
                false
            }
        })
    }
}
