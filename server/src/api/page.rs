//! Pages of the lists (`GET /apps`, `/instances`, `/tokens`, `/users`, `/secrets`): `limit`
//! and an opaque `cursor` in the query, the next page's cursor in the `q8s-next-cursor`
//! response header (absent on the last page), the body the same JSON list as ever.
//!
//! Keyset pagination: a cursor holds the sort key of the last item of its page and names its
//! list, so the store starts the next page right after that key with one index seek — the
//! same cost at any depth — and rows written between two pages neither repeat nor hide
//! others. A cursor is base64url of a small JSON object; the server reads nothing else from
//! it, and anything it cannot read, or one of another list, is `400 invalid-cursor`.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use q8s_core::api::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, NEXT_CURSOR_HEADER};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{ListKey, Page};

/// The lists that have pages; a cursor of one is refused by the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `GET /apps`.
    Apps,
    /// `GET /instances`.
    Instances,
    /// `GET /tokens`.
    Tokens,
    /// `GET /users`.
    Users,
    /// `GET /secrets`.
    Secrets,
}

impl List {
    fn as_str(self) -> &'static str {
        match self {
            List::Apps => "apps",
            List::Instances => "instances",
            List::Tokens => "tokens",
            List::Users => "users",
            List::Secrets => "secrets",
        }
    }
}

/// What a cursor holds: its list and the key of the last item of its page.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorData {
    /// The list.
    l: String,
    /// The key's name part (apps, users, secrets).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    n: String,
    /// The key's time part, Unix milliseconds (apps, instances, tokens).
    #[serde(default, skip_serializing_if = "is_zero")]
    t: i64,
    /// The key's id part (apps, instances, tokens).
    #[serde(default, skip_serializing_if = "Uuid::is_nil")]
    i: Uuid,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The cursor that continues `list` after `key`.
pub fn encode(list: List, key: &ListKey) -> String {
    let millis = (key.created_at.unix_timestamp_nanos() / 1_000_000) as i64;
    let data = CursorData {
        l: list.as_str().to_owned(),
        n: key.name.clone(),
        t: millis,
        i: key.id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

/// The key a cursor of `list` holds; `invalid-cursor` for anything else.
pub fn decode(list: List, cursor: &str) -> ApiResult<ListKey> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            format!(
                "`cursor` is not one this server gave for the {} list: pass on the \
                 `{NEXT_CURSOR_HEADER}` of the page before, or leave `cursor` out to start again",
                list.as_str()
            ),
        )
        .with_details(vec![json!({"field": "cursor"})])
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    // An object, as `encode` writes (serde would also read the fields from an array).
    if bytes.first() != Some(&b'{') {
        return Err(invalid());
    }
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if data.l != list.as_str() {
        return Err(invalid());
    }
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(data.t) * 1_000_000)
        .map_err(|_| invalid())?;
    Ok(ListKey {
        name: data.n,
        created_at,
        id: data.i,
    })
}

/// One page asked for: how many items, and the store's [`Page`] (one item more, to tell
/// whether another page follows).
#[derive(Debug, Clone)]
pub struct PageRequest {
    list: List,
    limit: u32,
    /// What to ask the store for.
    pub page: Page,
}

impl PageRequest {
    /// Reads `limit` (default [`DEFAULT_PAGE_LIMIT`], 1 to [`MAX_PAGE_LIMIT`], else 422
    /// `invalid-request`) and `cursor` (400 `invalid-cursor` unless one of `list`).
    pub fn new(list: List, limit: Option<u32>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`limit` in the query: from 1 to {MAX_PAGE_LIMIT}, not {limit}"),
            )
            .with_details(vec![json!({"field": "limit"})]));
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| decode(list, c))
            .transpose()?;
        Ok(PageRequest {
            list,
            limit,
            page: Page {
                after,
                limit: Some(limit + 1),
            },
        })
    }

    /// The page's items out of what the store answered, and the cursor of the next page when
    /// there is one (the store found more than `limit`).
    pub fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> ListKey) -> (Vec<T>, Next) {
        if items.len() <= self.limit as usize {
            return (items, Next(None));
        }
        items.truncate(self.limit as usize);
        let next = items.last().map(|last| encode(self.list, &key(last)));
        (items, Next(next))
    }
}

/// The cursor of the next page, if any: sent as the `q8s-next-cursor` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Next(pub Option<String>);

impl Next {
    /// `body` answered with this page's header.
    pub fn answer(self, body: impl IntoResponse) -> Response {
        let mut response = body.into_response();
        if let Some(cursor) = self.0.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(NEXT_CURSOR_HEADER, cursor);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_name_their_list() {
        let key = ListKey {
            name: "ai.h2o.hello".into(),
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_000_000)
                .unwrap(),
            id: Uuid::new_v4(),
        };
        let cursor = encode(List::Apps, &key);
        assert_eq!(decode(List::Apps, &cursor).unwrap(), key);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let other = decode(List::Instances, &cursor).unwrap_err();
        assert_eq!(other.code, ErrorCode::InvalidCursor);
        assert_eq!(other.status().as_u16(), 400);
    }

    #[test]
    fn anything_else_is_an_invalid_cursor() {
        let junk = [
            "x",
            "%%%",
            "eyJsIjoiYXBwcyJ9eA",                              // {"l":"apps"}x
            &URL_SAFE_NO_PAD.encode(br#"{"l":"apps","z":1}"#), // unknown field
            &URL_SAFE_NO_PAD.encode(br#"{"l":"apps","t":9223372036854775807}"#), // no such time
            &URL_SAFE_NO_PAD.encode(br#"["apps"]"#),
        ];
        for cursor in junk {
            let err = decode(List::Apps, cursor).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCursor, "{cursor}");
        }
    }

    #[test]
    fn limits_have_bounds_and_pages_say_what_follows() {
        for bad in [0, MAX_PAGE_LIMIT + 1] {
            let err = PageRequest::new(List::Users, Some(bad), None).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest);
        }
        let request = PageRequest::new(List::Users, None, Some("")).unwrap();
        assert_eq!(request.page.limit, Some(DEFAULT_PAGE_LIMIT + 1));
        assert_eq!(request.page.after, None);

        let request = PageRequest::new(List::Users, Some(2), None).unwrap();
        let (items, next) = request.finish(vec!["a", "b"], |n| ListKey::name(*n));
        assert_eq!((items, next), (vec!["a", "b"], Next(None)));
        let (items, next) = request.finish(vec!["a", "b", "c"], |n| ListKey::name(*n));
        assert_eq!(items, ["a", "b"]);
        let after = decode(List::Users, next.0.as_deref().unwrap()).unwrap();
        assert_eq!(after.name, "b");
    }
}
