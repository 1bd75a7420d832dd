//! What a list asks the store for: its filters ([`ListQuery`]) and its part ([`Page`]), a
//! page starting after the sort key ([`ListKey`]) of the last item the caller has seen.

use q8s_runtime::InstanceStatus;
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppRecord;

/// Where a page of a list starts: the sort key of the last item of the page before it
/// (keyset pagination, so the next page costs one index seek at any depth). Each list compares
/// the parts of its own order: apps (`name`, `created_at`, `id`), instances and tokens
/// (`created_at`, `id`), users and secrets (`name`); the parts a list does not use are left
/// at their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListKey {
    /// App Name, username or secret name.
    pub name: String,
    /// Creation time, to the millisecond.
    pub created_at: OffsetDateTime,
    /// Record id (breaks ties of equal times).
    pub id: Uuid,
}

impl ListKey {
    /// The key of a list ordered by name only.
    pub fn name(name: impl Into<String>) -> Self {
        ListKey {
            name: name.into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            id: Uuid::nil(),
        }
    }

    /// The key of a list ordered by creation time, then id.
    pub fn time(created_at: OffsetDateTime, id: Uuid) -> Self {
        ListKey {
            name: String::new(),
            created_at,
            id,
        }
    }

    /// An app's place in app lists.
    pub fn of_app(app: &AppRecord) -> Self {
        ListKey {
            name: app.manifest.app.name.clone(),
            created_at: app.created_at,
            id: app.id,
        }
    }
}

/// Which part of a list to return: the items after `after` (from the first when `None`), at
/// most `limit` of them (`None`: all the rest — for tests and tools, never for a request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The key of the last item already seen.
    pub after: Option<ListKey>,
    /// The most items to return.
    pub limit: Option<u32>,
}

impl Page {
    /// The whole list.
    pub fn all() -> Self {
        Page::default()
    }

    /// `limit` as an SQL `LIMIT` value (-1 is "no limit" on SQLite; PostgreSQL takes NULL,
    /// see each store).
    pub(super) fn sql_limit(&self) -> i64 {
        self.limit.map_or(-1, i64::from)
    }
}

/// Which apps or instances to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The caller.
    pub viewer_id: Uuid,
    /// Admins see everything with `include_shared`.
    pub viewer_admin: bool,
    /// `scope=all`: add what others share (`ALL_USERS`; everything for admins).
    pub include_shared: bool,
    /// Exact app name.
    pub name: Option<String>,
    /// Case-insensitive text in title, description or keywords.
    pub text: Option<String>,
    /// Apps: only the most recently imported version of each Name (among those that match).
    pub latest_only: bool,
    /// Instances: only these statuses (`None`: every status).
    pub statuses: Option<Vec<InstanceStatus>>,
    /// Only ids from the first to the last of this range (both included): a short id's.
    pub id_range: Option<(Uuid, Uuid)>,
    /// Which part of the list.
    pub page: Page,
}
