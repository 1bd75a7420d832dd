//! A short-lived memory of "this credential may open this instance", so that the requests of
//! a page (dozens of assets, then every websocket reconnect) do not each cost a token lookup
//! and an instance lookup in the store. Only positive answers are kept, for [`GRANT_TTL`]: a
//! revoked token, a signed-out session or a visibility change takes effect within that time.
//! A stopped instance is never reached through a grant: the proxy forwards only while the
//! runtime has an upstream for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Caller;

/// How long a granted access is reused.
pub(crate) const GRANT_TTL: Duration = Duration::from_secs(2);
/// Grants kept at most (expired ones are dropped first when full).
const CAPACITY: usize = 10_000;

type Key = ([u8; 32], Uuid);

/// Who was let in, with what the proxy adds to each of their requests made once.
#[derive(Debug)]
pub(crate) struct Grant {
    /// The caller.
    pub(crate) caller: Caller,
    /// `X-Forwarded-User`.
    pub(crate) user: Option<HeaderValue>,
}

impl Grant {
    pub(crate) fn new(caller: Caller) -> Grant {
        let user = HeaderValue::from_str(&caller.username).ok();
        Grant { caller, user }
    }
}

/// Grants by credential and instance, with when they expire.
type Grants = HashMap<Key, (Instant, Arc<Grant>)>;

fn grants() -> &'static Mutex<Grants> {
    static GRANTS: OnceLock<Mutex<Grants>> = OnceLock::new();
    GRANTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What identifies the caller's credentials (the bearer token, else the session cookie and
/// the host it is for), hashed: the memory never holds a credential itself.
pub(crate) fn credential_key(headers: &HeaderMap, instance: Uuid) -> Option<Key> {
    let mut hash = Sha256::new();
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        hash.update(b"bearer\0");
        hash.update(authorization.as_bytes());
    } else {
        // Two different session cookies: no key, so the full check refuses the request.
        let session = crate::auth::session_cookie(headers).ok()??;
        hash.update(b"session\0");
        hash.update(session.as_bytes());
        hash.update(b"\0");
        hash.update(crate::auth::request_host(headers)?.as_bytes());
    }
    Some((hash.finalize().into(), instance))
}

/// The grant remembered for `key`, if it is still fresh.
pub(crate) fn lookup(key: &Key) -> Option<Arc<Grant>> {
    let grants = grants().lock().unwrap_or_else(|p| p.into_inner());
    let (expires, grant) = grants.get(key)?;
    (*expires > Instant::now()).then(|| grant.clone())
}

/// Remembers that the caller of `grant` may open the instance of `key`.
pub(crate) fn remember(key: Key, grant: Arc<Grant>) {
    let now = Instant::now();
    let mut grants = grants().lock().unwrap_or_else(|p| p.into_inner());
    if grants.len() >= CAPACITY {
        grants.retain(|_, (expires, _)| *expires > now);
        if grants.len() >= CAPACITY {
            grants.clear();
        }
    }
    grants.insert(key, (now + GRANT_TTL, grant));
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn caller() -> Caller {
        Caller {
            user_id: Uuid::new_v4(),
            username: "alice".into(),
            admin: false,
            via_session: false,
            token_id: None,
        }
    }

    #[test]
    fn grants_are_per_credential_and_instance_and_expire() {
        let instance = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer one"),
        );
        let key = credential_key(&headers, instance).unwrap();
        assert!(lookup(&key).is_none());
        remember(key, Arc::new(Grant::new(caller())));
        let grant = lookup(&key).unwrap();
        assert_eq!(grant.caller.username, "alice");
        assert_eq!(grant.user.as_ref().unwrap(), "alice");

        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer two"),
        );
        assert!(lookup(&credential_key(&headers, instance).unwrap()).is_none());
        assert!(lookup(&credential_key(&headers, Uuid::new_v4()).unwrap()).is_none());

        grants().lock().unwrap().get_mut(&key).unwrap().0 = Instant::now();
        assert!(lookup(&key).is_none(), "expired");
    }

    #[test]
    fn a_session_grant_is_tied_to_its_host() {
        let instance = Uuid::new_v4();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("q8s_session=abc"));
        headers.insert(header::HOST, HeaderValue::from_static("a.localhost:8008"));
        let key = credential_key(&headers, instance).unwrap();
        headers.insert(header::HOST, HeaderValue::from_static("b.localhost:8008"));
        assert_ne!(key, credential_key(&headers, instance).unwrap());
        assert_eq!(credential_key(&HeaderMap::new(), instance), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("q8s_session=abc; q8s_session=def"),
        );
        assert_eq!(credential_key(&headers, instance), None);
    }
}
