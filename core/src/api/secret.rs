//! Who may use a secret (`isolation.md`, "Secrets"): its access rule as the API carries it
//! ([`SecretAccess`]), the changes an admin sends ([`SecretAccessChange`], [`SecretWrite`]),
//! and the rule itself — what a launch and `GET /secrets` check.
//!
//! A secret is usable by the admins and by the users its rule names (or every signed-in user);
//! a new secret names nobody, so only admins may use it until its admin widens the rule. The
//! app Names of the rule, when given, bind every launch, an admin's included: a secret meant
//! for one app never reaches the code of another, whoever starts it.
//!
//! ```
//! use q8s_core::api::{SecretAccess, SecretUsers};
//!
//! let access = SecretAccess {
//!     users: SecretUsers::Only(vec!["alice".into()]),
//!     apps: Some(vec!["ai.h2o.q8s.billing".into()]),
//! };
//! assert!(access.admits("alice", false) && !access.admits("bob", false));
//! assert!(access.permits("alice", false, "ai.h2o.q8s.billing"));
//! assert!(!access.permits("alice", false, "ai.h2o.q8s.other"));
//! assert!(!access.permits("admin", true, "ai.h2o.q8s.other"));
//! assert!(!SecretAccess::default().admits("alice", false));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::manifest::is_app_name;

/// The users a secret's rule names besides the admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretUsers {
    /// `"ALL_USERS"`: every signed-in user.
    AllUsers,
    /// These usernames; none means admins only.
    Only(Vec<String>),
}

impl SecretUsers {
    /// Nobody but the admins (`[]`), the rule of a new secret.
    pub const ADMINS_ONLY: SecretUsers = SecretUsers::Only(Vec::new());

    /// Whether the rule names `username` (admins aside).
    pub fn includes(&self, username: &str) -> bool {
        match self {
            SecretUsers::AllUsers => true,
            SecretUsers::Only(users) => users.iter().any(|u| u == username),
        }
    }
}

impl Default for SecretUsers {
    fn default() -> Self {
        SecretUsers::ADMINS_ONLY
    }
}

impl fmt::Display for SecretUsers {
    /// `ALL_USERS`, the usernames joined by `,`, or `admins only`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretUsers::AllUsers => f.write_str("ALL_USERS"),
            SecretUsers::Only(users) if users.is_empty() => f.write_str("admins only"),
            SecretUsers::Only(users) => f.write_str(&users.join(",")),
        }
    }
}

impl Serialize for SecretUsers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SecretUsers::AllUsers => serializer.serialize_str("ALL_USERS"),
            SecretUsers::Only(users) => users.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for SecretUsers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UsersVisitor;

        impl<'de> Visitor<'de> for UsersVisitor {
            type Value = SecretUsers;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"ALL_USERS\" or a list of usernames")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretUsers, E> {
                if text == "ALL_USERS" {
                    Ok(SecretUsers::AllUsers)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(text), &self))
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretUsers, A::Error> {
                let mut users = Vec::new();
                while let Some(user) = seq.next_element::<String>()? {
                    users.push(user);
                }
                Ok(SecretUsers::Only(users))
            }
        }

        deserializer.deserialize_any(UsersVisitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SecretUsers {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["ALL_USERS"])),
            )
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(
                "`\"ALL_USERS\"`, or the usernames that may use the secret (`[]`: admins only)",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SecretUsers {}

/// A secret's access rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretAccess {
    /// Who may use it besides the admins.
    pub users: SecretUsers,
    /// The app Names that may consume it; `null`: any app.
    pub apps: Option<Vec<String>>,
}

impl SecretAccess {
    /// Whether `username` (an admin when `admin`) may see and use the secret, app aside.
    pub fn admits(&self, username: &str, admin: bool) -> bool {
        admin || self.users.includes(username)
    }

    /// Whether a launch of the app named `app_name` by `username` may receive the secret.
    pub fn permits(&self, username: &str, admin: bool, app_name: &str) -> bool {
        self.admits(username, admin)
            && self
                .apps
                .as_ref()
                .is_none_or(|apps| apps.iter().any(|a| a == app_name))
    }
}

/// A change of a secret's rule (the body of `PATCH /secrets/{name}`): what is left out stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretAccessChange {
    /// New users; absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<SecretUsers>,
    /// New app Names, `null` for any app; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub apps: Option<Option<Vec<String>>>,
}

impl SecretAccessChange {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.users.is_none() && self.apps.is_none()
    }

    /// What is wrong with the app Names it sets, if anything: an empty list (which would let
    /// no app use the secret; `null` is "any app") or a text that cannot be an `App.Name`.
    /// The users are the server's to check: it knows who exists.
    pub fn problem(&self) -> Option<String> {
        let apps = self.apps.as_ref()?.as_ref()?;
        if apps.is_empty() {
            return Some(
                "`apps` lists no app: give at least one app Name, or null for any app".into(),
            );
        }
        apps.iter()
            .find(|a| !is_app_name(a))
            .map(|a| format!("`{a}` in `apps` is not an app Name (App.Name of a q-app.toml)"))
    }
}

/// The body of `PUT /secrets/{name}`: the secret's keys and values (at least one key), and
/// optionally a change of its rule (left out: the rule stays; admins only for a new secret).
/// Its `Debug` shows keys, never values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretWrite {
    /// Key → value.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// New users; absent: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<SecretUsers>,
    /// New app Names, `null` for any app; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub apps: Option<Option<Vec<String>>>,
}

impl SecretWrite {
    /// The rule change it carries.
    pub fn access_change(&self) -> SecretAccessChange {
        SecretAccessChange {
            users: self.users.clone(),
            apps: self.apps.clone(),
        }
    }
}

impl fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretWrite")
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("users", &self.users)
            .field("apps", &self.apps)
            .finish()
    }
}

/// A field that is present (even as `null`) deserializes to `Some`; an absent one stays
/// `None` through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_are_all_users_or_a_list() {
        let all: SecretUsers = serde_json::from_value(json!("ALL_USERS")).unwrap();
        assert_eq!(all, SecretUsers::AllUsers);
        assert_eq!(serde_json::to_value(&all).unwrap(), json!("ALL_USERS"));
        let some: SecretUsers = serde_json::from_value(json!(["alice", "bob"])).unwrap();
        assert!(some.includes("bob") && !some.includes("carol"));
        assert_eq!(
            serde_json::to_value(&some).unwrap(),
            json!(["alice", "bob"])
        );
        let err = serde_json::from_value::<SecretUsers>(json!("EVERYONE")).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"ALL_USERS\" or a list of usernames")
        );
        assert!(serde_json::from_value::<SecretUsers>(json!(3)).is_err());
        assert_eq!(SecretUsers::ADMINS_ONLY.to_string(), "admins only");
        assert_eq!(some.to_string(), "alice,bob");
    }

    #[test]
    fn a_change_tells_absent_from_null() {
        let change: SecretAccessChange = serde_json::from_value(json!({"apps": null})).unwrap();
        assert_eq!(change.apps, Some(None));
        assert!(change.users.is_none() && !change.is_empty());
        let change: SecretAccessChange = serde_json::from_value(json!({})).unwrap();
        assert!(change.is_empty());
        assert!(serde_json::from_value::<SecretAccessChange>(json!({"user": []})).is_err());
        let change = SecretAccessChange {
            users: Some(SecretUsers::Only(vec!["bob".into()])),
            apps: None,
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            json!({"users": ["bob"]})
        );
        let change = SecretAccessChange {
            users: None,
            apps: Some(None),
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            json!({"apps": null})
        );
    }

    #[test]
    fn app_names_are_checked() {
        let with = |apps: Option<Option<Vec<&str>>>| SecretAccessChange {
            users: None,
            apps: apps.map(|a| a.map(|a| a.into_iter().map(String::from).collect())),
        };
        assert!(with(None).problem().is_none() && with(Some(None)).problem().is_none());
        assert!(
            with(Some(Some(vec!["ai.h2o.q8s.hello"])))
                .problem()
                .is_none()
        );
        assert!(
            with(Some(Some(vec![])))
                .problem()
                .unwrap()
                .contains("no app")
        );
        assert!(
            with(Some(Some(vec!["a b"])))
                .problem()
                .unwrap()
                .contains("`a b`")
        );
    }

    #[test]
    fn a_write_never_shows_values_in_debug() {
        let write: SecretWrite =
            serde_json::from_value(json!({"data": {"k": "hunter2"}, "users": "ALL_USERS"}))
                .unwrap();
        let text = format!("{write:?}");
        assert!(
            text.contains("\"k\"") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(write.access_change().users, Some(SecretUsers::AllUsers));
        let empty: SecretWrite = serde_json::from_value(json!({})).unwrap();
        assert!(empty.data.is_empty() && empty.access_change().is_empty());
    }
}
