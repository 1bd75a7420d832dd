//! The lists of the API (`GET /apps`, `/instances`, `/secrets`, `/users`, `/tokens`), which
//! the server answers in pages: each call here follows the `q8s-next-cursor` header from page
//! to page, so a caller gets the whole list (`apps`, `instances`, …) or its first `max` items
//! and whether more follow (`apps_first`, `instances_first`).

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use q8s_core::api::{
    ApiError, App, AppVersions, Instance, MAX_PAGE_LIMIT, NEXT_CURSOR_HEADER, SecretInfo,
    StatusFilter, TERMINATED_OMITTED_HEADER, Token, User,
};

use super::{Client, read_json};

/// `GET /instances`: the instances the filter lets through, newest first, and how many
/// terminated ones it left out (for "3 terminated instances not shown").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceList {
    /// The instances listed.
    pub instances: Vec<Instance>,
    /// Terminated instances of the same scope that the filter left out.
    pub terminated_omitted: u64,
    /// Whether the server has more instances than those listed (only when a call asked for
    /// the first few).
    pub more: bool,
}

/// The first items of a list, and whether the server has more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Whether more items follow those.
    pub more: bool,
}

/// What a walk through the pages of a list found.
struct Walk<T> {
    items: Vec<T>,
    more: bool,
    /// The `q8s-terminated-omitted` header of the first page.
    terminated_omitted: u64,
}

impl Client {
    /// Reads the list at `segments` with `query`, page after page, until its end or `max`
    /// items. Pages are as large as the server allows (fewer round trips), and no larger than
    /// what is still wanted.
    async fn walk<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        max: Option<usize>,
    ) -> Result<Walk<T>, ApiError> {
        let mut walk = Walk {
            items: Vec::new(),
            more: false,
            terminated_omitted: 0,
        };
        let mut cursor: Option<String> = None;
        for page in 0.. {
            let wanted = max.map_or(usize::MAX, |m| m.saturating_sub(walk.items.len()));
            if wanted == 0 {
                walk.more = cursor.is_some();
                break;
            }
            let limit = wanted.min(MAX_PAGE_LIMIT as usize).to_string();
            let mut request = self
                .call(Method::GET, segments)
                .query(query)
                .query(&[("limit", &limit)]);
            if let Some(cursor) = &cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let response = self.send(request).await?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next = header(NEXT_CURSOR_HEADER);
            if page == 0 {
                walk.terminated_omitted = header(TERMINATED_OMITTED_HEADER)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            let items: Vec<T> = read_json(self, response).await?;
            walk.items.extend(items);
            match next {
                // A server that repeats a cursor would loop forever: its answer is not the API's.
                Some(next) if cursor.as_ref() == Some(&next) => {
                    return Err(ApiError::UnexpectedResponse {
                        url: self.url().to_owned(),
                        status: 200,
                        reason: format!("the list {} repeats its cursor", segments.join("/")),
                    });
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(walk)
    }

    /// `GET /apps`: the caller's apps, or with `all` every app the caller can launch; only
    /// those named `name`; the latest version of each Name or every version. Every page.
    pub async fn apps(
        &self,
        all: bool,
        name: Option<&str>,
        versions: AppVersions,
    ) -> Result<Vec<App>, ApiError> {
        Ok(self.apps_first(all, name, versions, None).await?.items)
    }

    /// [`Client::apps`], the first `max` apps only (every app when `None`).
    pub async fn apps_first(
        &self,
        all: bool,
        name: Option<&str>,
        versions: AppVersions,
        max: Option<usize>,
    ) -> Result<Listed<App>, ApiError> {
        let scope = if all { "all" } else { "mine" };
        let mut query = vec![("scope", scope), ("versions", versions.as_str())];
        query.extend(name.map(|name| ("name", name)));
        let walk = self.walk(&["apps"], &query, max).await?;
        Ok(Listed {
            items: walk.items,
            more: walk.more,
        })
    }

    /// `GET /instances`: the caller's instances, or with `all` also every `ALL_USERS` one,
    /// with the statuses `status` lets through, newest first. Every page.
    pub async fn instances(
        &self,
        all: bool,
        status: &StatusFilter,
    ) -> Result<InstanceList, ApiError> {
        self.instances_first(all, status, None).await
    }

    /// [`Client::instances`], the first (newest) `max` instances only (all when `None`).
    pub async fn instances_first(
        &self,
        all: bool,
        status: &StatusFilter,
        max: Option<usize>,
    ) -> Result<InstanceList, ApiError> {
        let scope = if all { "all" } else { "mine" };
        let status = status.query_value();
        let query = [("scope", scope), ("status", status.as_str())];
        let walk = self.walk(&["instances"], &query, max).await?;
        Ok(InstanceList {
            instances: walk.items,
            terminated_omitted: walk.terminated_omitted,
            more: walk.more,
        })
    }

    /// The ids of the apps (every version, scope `all`) and of the instances (every status,
    /// scope `all`) that start with `prefix`, at most `max` of each kind looked for: how a
    /// short id typed by a person is resolved, one small query however large the catalog.
    pub async fn ids_starting(
        &self,
        instances: bool,
        prefix: &str,
        max: usize,
    ) -> Result<Vec<String>, ApiError> {
        #[derive(serde::Deserialize)]
        struct Id {
            id: String,
        }
        let (segment, filter) = if instances {
            ("instances", ("status", "all"))
        } else {
            ("apps", ("versions", "all"))
        };
        let query = [("scope", "all"), filter, ("id_prefix", prefix)];
        let walk: Walk<Id> = self.walk(&[segment], &query, Some(max)).await?;
        Ok(walk.items.into_iter().map(|item| item.id).collect())
    }

    /// `GET /secrets`: the secrets the caller may use, with names and keys, never values (and
    /// for admins every secret with its rule). Every page.
    pub async fn secrets(&self) -> Result<Vec<SecretInfo>, ApiError> {
        Ok(self.walk(&["secrets"], &[], None).await?.items)
    }

    /// `GET /users` (admins). Every page.
    pub async fn users(&self) -> Result<Vec<User>, ApiError> {
        Ok(self.walk(&["users"], &[], None).await?.items)
    }

    /// `GET /tokens`: the caller's API tokens (`all`: every user's, for admins), never their
    /// secrets. Every page.
    pub async fn tokens(&self, all: bool) -> Result<Vec<Token>, ApiError> {
        let scope = if all { "all" } else { "mine" };
        Ok(self
            .walk(&["tokens"], &[("scope", scope)], None)
            .await?
            .items)
    }
}
