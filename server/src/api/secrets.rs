//! `/secrets`: admins write secrets and their access rules; every user lists the secrets they
//! may use. And the rule at work: [`environment`] resolves an app's `[[Env]]` for the user an
//! instance runs for. Values go into the store and, at a start, into an instance's environment
//! — never into an answer, a log line or an error message.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use q8s_core::manifest::{secret_key_problem, secret_name_problem};
use serde_json::error::Category;
use serde_json::json;

use super::extract::{ApiJson, ApiQuery};
use super::models::{PageParams, Secret, SecretAccessChange, SecretWrite};
use super::page::{List, PageRequest};
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::store::{AppRecord, ListKey, SecretRecord, SecretUsers, UserRecord};

/// The JSON form of a secret; the rule only for admins.
fn secret_json(record: SecretRecord, admin: bool) -> Secret {
    Secret {
        name: record.name,
        keys: record.keys,
        access: admin.then_some(record.access),
    }
}

/// The body of `PUT /secrets/{name}`. serde's messages quote the value they trip over, and
/// here that may be a secret value: the answer names only the kind of problem and its place.
fn secret_write(body: &[u8]) -> ApiResult<SecretWrite> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            Category::Syntax | Category::Eof => "is not well-formed JSON",
            Category::Data => "has an unknown field or a value of the wrong type",
            Category::Io => "could not be read",
        };
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "the body {what} (line {}, column {}); send {{\"data\": {{\"KEY\": \"value\", …}}}}, \
                 with \"users\" (\"ALL_USERS\" or usernames) and \"apps\" (app Names or null) when \
                 the rule changes",
                e.line(),
                e.column()
            ),
        )
    })
}

/// 422 `invalid-secret-access` for a change naming users that do not exist or app Names that
/// cannot be.
async fn check_change(state: &AppState, change: &SecretAccessChange) -> ApiResult<()> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidSecretAccess, message);
    if let Some(problem) = change.problem() {
        return Err(invalid(problem));
    }
    if let Some(SecretUsers::Only(users)) = &change.users {
        let mut unknown = Vec::new();
        for user in users {
            if state.store.accounts.user_by_name(user).await?.is_none() {
                unknown.push(format!("`{user}`"));
            }
        }
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "no user named {}: `users` lists existing usernames, or is \"ALL_USERS\"",
                unknown.join(", ")
            )));
        }
    }
    Ok(())
}

/// The user an instance runs for: secrets are checked against their rights (for a launch, the
/// caller; for a resume or a restart, the instance's owner, whoever asks).
#[derive(Debug, Clone, Copy)]
pub struct Launcher<'a> {
    /// Their username.
    pub username: &'a str,
    /// Admins may use every secret (app restrictions aside).
    pub admin: bool,
}

impl<'a> Launcher<'a> {
    pub(crate) fn caller(caller: &'a Caller) -> Self {
        Launcher {
            username: &caller.username,
            admin: caller.admin,
        }
    }

    pub(crate) fn user(user: &'a UserRecord) -> Self {
        Launcher {
            username: &user.username,
            admin: user.admin,
        }
    }
}

/// Every `[[Env]]` of `app` as `(variable, value)`, for an instance that runs for `launcher`.
/// 403 `secret-forbidden` names each secret the launcher may not use in this app
/// (isolation.md: checked before anything else, and its keys are not looked at); then 422
/// `missing-secret` names each absent secret or key. Never a value.
pub async fn environment(
    state: &AppState,
    app: &AppRecord,
    launcher: Launcher<'_>,
) -> ApiResult<Vec<(String, String)>> {
    let app_name = &app.manifest.app.name;
    let mut rules: HashMap<&str, Option<SecretRecord>> = HashMap::new();
    for var in &app.manifest.env {
        if !rules.contains_key(var.secret.as_str()) {
            rules.insert(&var.secret, state.store.secrets.secret(&var.secret).await?);
        }
    }
    let mut forbidden: Vec<&str> = rules
        .iter()
        .filter(|(_, record)| {
            record.as_ref().is_some_and(|r| {
                !r.access
                    .permits(launcher.username, launcher.admin, app_name)
            })
        })
        .map(|(name, _)| *name)
        .collect();
    if !forbidden.is_empty() {
        forbidden.sort_unstable();
        let named: Vec<String> = forbidden.iter().map(|n| format!("`{n}`")).collect();
        let what = if named.len() == 1 {
            "secret"
        } else {
            "secrets"
        };
        tracing::warn!(user = launcher.username, app = %app_name, secrets = ?forbidden, "launch refused: secret-forbidden");
        return Err(ApiError::new(
            ErrorCode::SecretForbidden,
            format!(
                "{} may not use {what} {} in app {app_name}; an admin can change who may with PATCH /api/v1/secrets/{{name}}",
                launcher.username,
                named.join(", ")
            ),
        )
        .with_details(forbidden.iter().map(|n| json!({"secret": n})).collect()));
    }
    let mut env = Vec::new();
    let mut missing = Vec::new();
    for var in &app.manifest.env {
        let value = match rules.get(var.secret.as_str()) {
            Some(Some(_)) => {
                state
                    .store
                    .secrets
                    .secret_value(&var.secret, &var.secret_key)
                    .await?
            }
            _ => None,
        };
        match value {
            Some(value) => env.push((var.name.clone(), value)),
            None => missing.push(var),
        }
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|v| format!("{} (key {} of secret {})", v.name, v.secret_key, v.secret))
            .collect();
        let details = missing
            .iter()
            .map(|v| json!({"name": v.name, "secret": v.secret, "secret_key": v.secret_key}))
            .collect();
        let commands = create_commands(&missing, &rules, launcher);
        return Err(ApiError::new(
            ErrorCode::MissingSecret,
            format!(
                "missing secrets for {}; an admin can create them with {}",
                names.join(", "),
                commands.join(" and ")
            ),
        )
        .with_details(details));
    }
    Ok(env)
}

/// The `q8s-cli admin secret set` command, in backquotes, that gives each secret of `missing`
/// its absent keys. `set` replaces a secret with exactly the keys given, so the keys it has
/// already are in the command too; a new secret is for the launcher when they are not an
/// admin (a new secret is otherwise for admins only), while an existing one keeps its rule.
fn create_commands(
    missing: &[&q8s_core::manifest::EnvVar],
    rules: &HashMap<&str, Option<SecretRecord>>,
    launcher: Launcher<'_>,
) -> Vec<String> {
    let mut secrets: Vec<&str> = Vec::new();
    for var in missing {
        if !secrets.contains(&var.secret.as_str()) {
            secrets.push(&var.secret);
        }
    }
    secrets
        .into_iter()
        .map(|secret| {
            let record = rules.get(secret).and_then(Option::as_ref);
            let mut keys: Vec<&str> = record
                .map(|r| r.keys.iter().map(String::as_str).collect())
                .unwrap_or_default();
            keys.extend(
                missing
                    .iter()
                    .filter(|v| v.secret == secret)
                    .map(|v| v.secret_key.as_str()),
            );
            keys.sort_unstable();
            keys.dedup();
            let pairs: Vec<String> = keys.iter().map(|k| format!("{k}=VALUE")).collect();
            let who = match (record, launcher.admin) {
                (None, false) => format!(" --users {}", launcher.username),
                _ => String::new(),
            };
            format!(
                "`q8s-cli admin secret set {secret} {}{who}`",
                pairs.join(" ")
            )
        })
        .collect()
}

/// The secrets the caller may use: names and keys, never values. Admins get every secret
/// with its access rule. By name, a page of at most `limit` (fewer when secrets the caller may
/// not use are left out), the next page's `cursor` in the `q8s-next-cursor` header.
#[utoipa::path(
    get, path = "/secrets", tag = "secrets",
    params(PageParams),
    responses(
        (status = 200, body = Vec<Secret>, headers(
            ("q8s-next-cursor" = String, description = "The `cursor` of the next page; absent on the last")
        )),
        (status = 400, description = "`invalid-cursor`", body = ErrorBody),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let request = PageRequest::new(List::Secrets, params.limit, params.cursor.as_deref())?;
    let secrets = state.store.secrets.secrets(&request.page).await?;
    // The cursor follows what the store listed, so the next page starts after this one also
    // when its last secrets are left out here.
    let (secrets, next) = request.finish(secrets, |s| ListKey::name(s.name.clone()));
    let secrets: Vec<Secret> = secrets
        .into_iter()
        .filter(|s| s.access.admits(&caller.username, caller.admin))
        .map(|s| secret_json(s, caller.admin))
        .collect();
    Ok(next.answer(Json(secrets)))
}

/// Create or replace a secret (admins): exactly the keys of `data` (at least one), and the
/// rule changed as `users`/`apps` say — left out, the rule stays (a new secret: admins only).
#[utoipa::path(
    put, path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name, as `[[Env]].Secret` of manifests names it")),
    request_body = SecretWrite,
    responses(
        (status = 200, description = "Name, keys and rule", body = Secret), (status = 403, body = ErrorBody),
        (status = 422, description = "`empty-secret`, `invalid-secret-name`, `invalid-secret-key`, `invalid-secret-access`", body = ErrorBody),
    )
)]
pub async fn put_secret(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Secret>> {
    let body = secret_write(&body)?;
    if let Some(problem) = secret_name_problem(&name) {
        return Err(ApiError::new(ErrorCode::InvalidSecretName, problem));
    }
    if body.data.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptySecret,
            format!(
                "secret `{name}` needs at least one key: `data` is empty or missing, nothing was changed; to change only who may use it, PATCH /api/v1/secrets/{name}"
            ),
        ));
    }
    if let Some(problem) = body.data.keys().find_map(|k| secret_key_problem(k)) {
        return Err(ApiError::new(ErrorCode::InvalidSecretKey, problem));
    }
    let change = body.access_change();
    check_change(&state, &change).await?;
    let data: Vec<(String, String)> = body.data.into_iter().collect();
    let record = state
        .store
        .secrets
        .put_secret(&name, &data, &change)
        .await?;
    tracing::info!(
        secret = %name, keys = data.len(), users = %record.access.users,
        apps = ?record.access.apps, by = %admin.username, "secret written"
    );
    Ok(Json(secret_json(record, true)))
}

/// Change who may use a secret (admins), values untouched: `users` and/or `apps`; what is
/// left out stays.
#[utoipa::path(
    patch, path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")),
    request_body = SecretAccessChange,
    responses(
        (status = 200, description = "Name, keys and rule", body = Secret), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "`invalid-secret-access`", body = ErrorBody),
    )
)]
pub async fn patch_secret(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    ApiJson(change): ApiJson<SecretAccessChange>,
) -> ApiResult<Json<Secret>> {
    if change.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidSecretAccess,
            "nothing to change: give `users`, `apps` or both",
        ));
    }
    check_change(&state, &change).await?;
    let record = match state.store.secrets.set_secret_access(&name, &change).await {
        Err(crate::store::StoreError::NotFound) => return Err(ApiError::not_found("secret")),
        other => other?,
    };
    tracing::info!(
        secret = %name, users = %record.access.users, apps = ?record.access.apps,
        by = %admin.username, "secret access changed"
    );
    Ok(Json(secret_json(record, true)))
}

/// Delete a secret (admins).
#[utoipa::path(
    delete, path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete_secret(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if !state.store.secrets.delete_secret(&name).await? {
        return Err(ApiError::not_found("secret"));
    }
    tracing::info!(secret = %name, by = %admin.username, "secret deleted");
    Ok(StatusCode::NO_CONTENT)
}
