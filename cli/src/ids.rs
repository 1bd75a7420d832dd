//! Ids as people type them: a whole id, or a prefix of at least [`MIN_PREFIX`] characters
//! that one id starts with (like git's short hashes), found by asking the server for the ids
//! with that prefix that the user may see (`id_prefix`: one small query, whatever the size of
//! the catalog).
//! An id no app or instance has gets an error that points to the list.

use q8s_client::Client;
use q8s_core::api::{ApiError, ErrorCode};

use crate::output::Advised;

/// The shortest prefix taken for an id.
pub const MIN_PREFIX: usize = 8;

/// How many ids an ambiguous prefix lists.
const MAX_CANDIDATES: usize = 10;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An app version.
    App,
    /// An instance.
    Instance,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Instance => "instance",
        }
    }
}

/// The whole id of the app `given` names (a whole id is taken as it is).
pub async fn app(client: &Client, given: &str) -> anyhow::Result<String> {
    if is_whole(given) {
        return Ok(given.to_owned());
    }
    Ok(pick(
        Kind::App,
        given,
        candidates(client, Kind::App, given).await?,
    )?)
}

/// The whole id of the instance `given` names (a whole id is taken as it is).
pub async fn instance(client: &Client, given: &str) -> anyhow::Result<String> {
    if is_whole(given) {
        return Ok(given.to_owned());
    }
    Ok(pick(
        Kind::Instance,
        given,
        candidates(client, Kind::Instance, given).await?,
    )?)
}

/// The ids the server has that start with `given` (none asked for when it is too short or
/// starts no id: [`pick`] says why).
async fn candidates(
    client: &Client,
    kind: Kind,
    given: &str,
) -> anyhow::Result<std::vec::IntoIter<String>> {
    if given.chars().count() < MIN_PREFIX || q8s_core::api::id_prefix_range(given).is_none() {
        return Ok(Vec::new().into_iter());
    }
    let ids = client
        .ids_starting(kind == Kind::Instance, given, MAX_CANDIDATES)
        .await?;
    Ok(ids.into_iter())
}

/// `err` with the tip to look at the list, when it is the server's `not-found`.
pub fn not_found_tip(kind: Kind, err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<ApiError>() {
        Ok(api) if api.code() == ErrorCode::NotFound.as_str() => Advised {
            fact: api.message(),
            code: api.code().to_owned(),
            hint: list_hint(kind),
            api: Some(Box::new(api)),
        }
        .into(),
        Ok(api) => api.into(),
        Err(err) => err,
    }
}

fn list_hint(kind: Kind) -> String {
    format!("see `q8s-cli {} list` for the ids", kind.name())
}

/// A UUID as the server writes them: 36 characters, dashes at 8, 13, 18, 23.
fn is_whole(given: &str) -> bool {
    given.len() == 36
        && given.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The one of `ids` that starts with `given`.
fn pick(kind: Kind, given: &str, ids: impl Iterator<Item = String>) -> Result<String, Advised> {
    let what = kind.name();
    if given.chars().count() < MIN_PREFIX {
        return Err(Advised {
            fact: format!("`{given}` is too short to pick an {what}"),
            code: ErrorCode::AmbiguousId.as_str().to_owned(),
            hint: format!(
                "give the whole id or its first {MIN_PREFIX} characters at least (see \
                 `q8s-cli {what} list`)"
            ),
            api: None,
        });
    }
    let prefix = given.to_ascii_lowercase();
    let mut found: Vec<String> = ids.filter(|id| id.starts_with(&prefix)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Advised {
            fact: format!("no {what} id starts with `{given}`"),
            code: ErrorCode::NotFound.as_str().to_owned(),
            hint: list_hint(kind),
            api: None,
        }),
        _ => {
            found.sort();
            Err(Advised {
                fact: format!(
                    "`{given}` starts more than one {what} id: {}",
                    found.join(", ")
                ),
                code: ErrorCode::AmbiguousId.as_str().to_owned(),
                hint: "give more characters of the id".to_owned(),
                api: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01";
    const B: &str = "0b5c8c3e-aaaa-4f0e-9a53-4c1f3f3b8a01";
    const C: &str = "77777777-3f5e-4f0e-9a53-4c1f3f3b8a01";

    fn ids() -> impl Iterator<Item = String> {
        [A, B, C].into_iter().map(str::to_owned)
    }

    #[test]
    fn a_unique_prefix_picks_its_id() {
        assert_eq!(pick(Kind::Instance, "77777777", ids()).unwrap(), C);
        assert_eq!(pick(Kind::Instance, "0B5C8C3E-3", ids()).unwrap(), A);
        assert!(is_whole(A) && !is_whole(&A[..35]) && !is_whole("0b5c8c3e"));
    }

    #[test]
    fn short_ambiguous_and_unknown_prefixes_are_errors_that_say_what_to_do() {
        let e = pick(Kind::Instance, "0b5c8c3", ids()).unwrap_err();
        assert_eq!(e.code, "ambiguous-id");
        assert!(e.to_string().contains("first 8 characters"), "{e}");
        let e = pick(Kind::Instance, "0b5c8c3e", ids()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "`0b5c8c3e` starts more than one instance id: {A}, {B} (ambiguous-id) — give \
                 more characters of the id"
            )
        );
        let e = pick(Kind::App, "12345678", ids()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no app id starts with `12345678` (not-found) — see `q8s-cli app list` for the ids"
        );
    }
}
