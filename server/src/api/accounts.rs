//! `/me`, `/tokens` and `/users`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::response::Response;
use uuid::Uuid;

use super::extract::{ApiJson, ApiQuery, read_body};
use super::models::{
    CreatedToken, CreatedUser, NewTokenBody, NewUserBody, PageParams, Scope, Token,
    TokenListParams, User, rfc3339,
};
use super::page::{List, PageRequest};
use super::parse_id;
use crate::auth::{self, Admin, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::store::{ListKey, TokenRecord, UserRecord};

fn user_json(u: UserRecord) -> User {
    User {
        username: u.username,
        admin: u.admin,
        created_at: rfc3339(u.created_at),
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "account", responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<User>> {
    let user = state
        .store
        .accounts
        .user(caller.user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(user_json(user)))
}

/// Your API tokens, oldest first: names and times, never the secrets. Admins see every
/// user's with `scope=all`. `last_used_at` is recorded at most once a minute per token. A page
/// of at most `limit`, the next page's `cursor` in the `q8s-next-cursor` header.
#[utoipa::path(
    get, path = "/tokens", tag = "account",
    params(TokenListParams),
    responses(
        (status = 200, body = Vec<Token>, headers(
            ("q8s-next-cursor" = String, description = "The `cursor` of the next page; absent on the last")
        )),
        (status = 400, description = "`invalid-cursor`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<TokenListParams>,
) -> ApiResult<Response> {
    let everyone = params.scope.unwrap_or_default() == Scope::All;
    if everyone && !caller.admin {
        return Err(ApiError::forbidden(
            "only admins may list other users' tokens",
        ));
    }
    let request = PageRequest::new(List::Tokens, params.limit, params.cursor.as_deref())?;
    let tokens = state
        .store
        .accounts
        .tokens((!everyone).then_some(caller.user_id), &request.page)
        .await?;
    let (tokens, next) = request.finish(tokens, |t| ListKey::time(t.created_at, t.id));
    // The owners of this page only: at most `limit` lookups, whatever the number of users.
    let mut names: HashMap<Uuid, String> = [(caller.user_id, caller.username.clone())].into();
    for token in &tokens {
        if let Entry::Vacant(slot) = names.entry(token.user_id) {
            let user = state.store.accounts.user(token.user_id).await?;
            slot.insert(user.map(|u| u.username).unwrap_or_default());
        }
    }
    let json = |t: TokenRecord| Token {
        id: t.id.to_string(),
        owner: names.get(&t.user_id).cloned().unwrap_or_default(),
        current: caller.token_id == Some(t.id),
        name: t.name,
        created_at: rfc3339(t.created_at),
        last_used_at: t.last_used_at.map(rfc3339),
    };
    let tokens: Vec<Token> = tokens.into_iter().map(json).collect();
    Ok(next.answer(Json(tokens)))
}

/// Mint an API token (shown once). With a session cookie, only from the same origin.
#[utoipa::path(
    post, path = "/tokens", tag = "account",
    request_body(content = NewTokenBody, description = "Optional label"),
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let body: NewTokenBody = if body.iter().all(u8::is_ascii_whitespace) {
        NewTokenBody::default()
    } else {
        read_body(&body)?
    };
    let name = body
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "api".into());
    if name.chars().count() > 200 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the token name is longer than 200 characters",
        ));
    }
    let secret = auth::new_api_token();
    let record = state
        .store
        .accounts
        .create_token(caller.user_id, &name, &auth::hash_secret(&secret))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: record.id.to_string(),
            name: record.name,
            token: secret,
            created_at: rfc3339(record.created_at),
        }),
    ))
}

/// Revoke one of your tokens (admins: anyone's).
#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "account",
    params(("id" = String, Path, description = "Token id (UUID)")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody))
)]
pub async fn delete_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "token")?;
    let owner = (!caller.admin).then_some(caller.user_id);
    if !state.store.accounts.delete_token(id, owner).await? {
        return Err(ApiError::not_found("token"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A user name: lowercase letters, digits, `.`, `_`, `-`; 1–64 characters, starting with a
/// letter or digit.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Every user (admins), by name: a page of at most `limit`, the next page's `cursor` in the
/// `q8s-next-cursor` header.
#[utoipa::path(
    get, path = "/users", tag = "users",
    params(PageParams),
    responses(
        (status = 200, body = Vec<User>, headers(
            ("q8s-next-cursor" = String, description = "The `cursor` of the next page; absent on the last")
        )),
        (status = 400, description = "`invalid-cursor`", body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let request = PageRequest::new(List::Users, params.limit, params.cursor.as_deref())?;
    let users = state.store.accounts.users(&request.page).await?;
    let (users, next) = request.finish(users, |u| ListKey::name(u.username.clone()));
    let users: Vec<User> = users.into_iter().map(user_json).collect();
    Ok(next.answer(Json(users)))
}

/// Create a user (admins). Without a password, one is generated and returned once.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = NewUserBody,
    responses((status = 201, body = CreatedUser), (status = 403, body = ErrorBody), (status = 409, description = "`user-exists`", body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    if !valid_username(&body.username) {
        return Err(ApiError::new(
            ErrorCode::InvalidUsername,
            "a username has 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    if body
        .password
        .as_ref()
        .is_some_and(|p| p.chars().count() < 8)
    {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            "a password has at least 8 characters",
        ));
    }
    let generated = body.password.is_none().then(|| auth::random_secret(18));
    let password = body
        .password
        .or_else(|| generated.clone())
        .unwrap_or_default();
    let hash = auth::hash_password(password)
        .await
        .map_err(|e| ApiError::internal("hashing the password", e))?;
    let user = state
        .store
        .accounts
        .create_user(&body.username, &hash, body.admin)
        .await?;
    tracing::info!(username = %user.username, admin = user.admin, by = %admin.username, "user created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: user_json(user),
            password: generated,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert!(valid_username("alice") && valid_username("a.b_c-1"));
        assert!(!valid_username("Alice") && !valid_username("-a") && !valid_username(""));
    }
}
