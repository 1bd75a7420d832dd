//! What the lists show: which instances by status (`GET /instances?status=…`,
//! `q8s-cli instance list --status`) and which app versions (`GET /apps?versions=…`,
//! `q8s-cli app list --all-versions`). The server filters with these; every client only
//! parses the user's words into them and sends [`StatusFilter::query_value`].
//!
//! ```
//! use q8s_core::api::{InstanceStatus, StatusFilter};
//! let live = StatusFilter::default();
//! assert!(live.admits(InstanceStatus::Failed) && !live.admits(InstanceStatus::Terminated));
//! let some: StatusFilter = "running,failed".parse().unwrap();
//! assert_eq!(some.query_value(), "RUNNING,FAILED");
//! assert!("all".parse::<StatusFilter>().unwrap().admits(InstanceStatus::Terminated));
//! ```

use std::fmt;
use std::str::FromStr;

use super::types::{InstanceStatus, UnknownValue};

/// The response header of `GET /instances` that counts the terminated instances the list
/// left out (the body stays a JSON list).
pub const TERMINATED_OMITTED_HEADER: &str = "q8s-terminated-omitted";

/// The response header of every paged list (`GET /apps`, `/instances`, `/tokens`, `/users`,
/// `/secrets`) that carries the `cursor` of the next page; absent on the last page. The body
/// stays a JSON list, as before lists had pages.
pub const NEXT_CURSOR_HEADER: &str = "q8s-next-cursor";

/// How many items a page holds when the request has no `limit`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// The largest `limit` a list takes (more answers `invalid-request`).
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// The ids a prefix names, as the inclusive range `(first, last)` of the 36-character
/// lowercase ids that start with it (what `GET /apps?id_prefix=…` and
/// `GET /instances?id_prefix=…` list, served from the primary key's order). `None` when
/// `prefix` starts no id: more than 36 characters, a character that is not a hex digit, or a
/// dash anywhere but 8, 13, 18 and 23. An empty prefix names every id.
///
/// ```
/// use q8s_core::api::id_prefix_range;
/// let (first, last) = id_prefix_range("0B5C8C3E-3").unwrap();
/// assert_eq!(first, "0b5c8c3e-3000-0000-0000-000000000000");
/// assert_eq!(last, "0b5c8c3e-3fff-ffff-ffff-ffffffffffff");
/// assert!(id_prefix_range("0b5c8c3e3").is_none() && id_prefix_range("xyz").is_none());
/// ```
pub fn id_prefix_range(prefix: &str) -> Option<(String, String)> {
    const SHAPE: &str = "00000000-0000-0000-0000-000000000000";
    if prefix.len() > SHAPE.len() {
        return None;
    }
    let fits = prefix
        .chars()
        .zip(SHAPE.chars())
        .all(|(c, shape)| match shape {
            '-' => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if !fits {
        return None;
    }
    let prefix = prefix.to_ascii_lowercase();
    let rest = &SHAPE[prefix.len()..];
    Some((
        format!("{prefix}{rest}"),
        format!("{prefix}{}", rest.replace('0', "f")),
    ))
}

/// Which instances a list shows by status. The default is [`StatusFilter::Live`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every status but `TERMINATED` (`live`).
    #[default]
    Live,
    /// Every status (`all`).
    All,
    /// These statuses only (`RUNNING,FAILED`).
    Only(Vec<InstanceStatus>),
}

impl StatusFilter {
    /// Whether an instance with this status is listed.
    pub fn admits(&self, status: InstanceStatus) -> bool {
        match self {
            StatusFilter::Live => status != InstanceStatus::Terminated,
            StatusFilter::All => true,
            StatusFilter::Only(statuses) => statuses.contains(&status),
        }
    }

    /// The `status` query value: `live`, `all` or the statuses joined by commas.
    pub fn query_value(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StatusFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusFilter::Live => f.write_str("live"),
            StatusFilter::All => f.write_str("all"),
            StatusFilter::Only(statuses) => {
                let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

impl FromStr for StatusFilter {
    type Err = UnknownValue;

    /// `live`, `all`, or statuses separated by commas, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownValue {
            value: s.to_owned(),
            expected: "live, all, or statuses separated by commas (PENDING, STARTING, RUNNING, \
                       SUSPENDED, FAILED, TERMINATED)",
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "live" => return Ok(StatusFilter::Live),
            "all" => return Ok(StatusFilter::All),
            "" => return Err(unknown()),
            _ => {}
        }
        let mut statuses = Vec::new();
        for part in s.split(',') {
            let status: InstanceStatus = part.trim().parse().map_err(|_| unknown())?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        Ok(StatusFilter::Only(statuses))
    }
}

/// Which versions of each app a list shows. The default is [`AppVersions::Latest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppVersions {
    /// The most recently imported version of each Name (`latest`).
    #[default]
    Latest,
    /// Every version (`all`).
    All,
}

impl AppVersions {
    /// The `versions` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            AppVersions::Latest => "latest",
            AppVersions::All => "all",
        }
    }
}

impl FromStr for AppVersions {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "latest" => Ok(AppVersions::Latest),
            "all" => Ok(AppVersions::All),
            _ => Err(UnknownValue {
                value: s.to_owned(),
                expected: "latest or all",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_read_and_write_the_same_words() {
        for text in ["live", "all", "RUNNING", "PENDING,STARTING,FAILED"] {
            assert_eq!(text.parse::<StatusFilter>().unwrap().query_value(), text);
        }
        assert_eq!(
            " Running , running,failed".parse::<StatusFilter>(),
            Ok(StatusFilter::Only(vec![
                InstanceStatus::Running,
                InstanceStatus::Failed
            ]))
        );
        for bad in ["", "RUNNING,", "stopped", "live,RUNNING"] {
            let err = bad.parse::<StatusFilter>().unwrap_err();
            assert!(err.expected.contains("TERMINATED"), "{bad}");
        }
    }

    #[test]
    fn the_default_lists_what_lives() {
        let live = StatusFilter::default();
        assert!(
            InstanceStatus::ALL
                .into_iter()
                .all(|s| live.admits(s) == (s != InstanceStatus::Terminated))
        );
        assert!(!StatusFilter::Only(vec![]).admits(InstanceStatus::Running));
        assert_eq!("ALL".parse::<AppVersions>(), Ok(AppVersions::All));
        assert!("newest".parse::<AppVersions>().is_err());
    }
}
