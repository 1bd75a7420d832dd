//! App Names: each belongs to the user who first imported it (or was given it), and only they
//! import versions under it; `/app-names/{name}` is how an admin gives a Name to someone else.

use axum::Json;
use axum::extract::{Path, State};

use super::extract::ApiJson;
use super::models::{AppName, AppNameBody};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::state::AppState;

/// 403 `app-name-taken`: the answer to anyone importing under a Name that is not theirs. It
/// is the same whatever that Name's versions are (or whether any is left), so it tells
/// nothing about them, nor who owns it.
pub(crate) fn name_taken(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AppNameTaken,
        format!(
            "the app name {name} belongs to another user; choose another App.Name, or ask an admin to transfer it to you"
        ),
    )
}

/// Give an app Name to a user (admins): from then on only they import versions under it.
///
/// The versions already imported stay with whoever imported them. A Name nobody has imported
/// yet can be given too.
#[utoipa::path(
    put, path = "/app-names/{name}", tag = "apps",
    params(("name" = String, Path, description = "The App.Name")),
    request_body = AppNameBody,
    responses(
        (status = 200, description = "The Name and its new owner", body = AppName),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody),
        (status = 422, description = "`invalid-name`, `unknown-user`", body = ErrorBody),
    )
)]
pub async fn transfer_app_name(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<AppNameBody>,
) -> ApiResult<Json<AppName>> {
    if !caller.admin {
        return Err(ApiError::forbidden("only admins may transfer an app name"));
    }
    if let Some(problem) = q8s_core::manifest::check_app_name(&name) {
        let detail = serde_json::to_value(&problem).ok();
        return Err(ApiError::new(ErrorCode::InvalidName, problem.message)
            .with_details(detail.into_iter().collect()));
    }
    let owner = state
        .store
        .accounts
        .user_by_name(&body.owner)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownUser,
                format!("there is no user `{}`", body.owner),
            )
        })?;
    state
        .store
        .catalog
        .set_app_name_owner(&name, owner.id)
        .await?;
    tracing::info!(%name, owner = %owner.username, by = %caller.username, "app name transferred");
    Ok(Json(AppName {
        name,
        owner: owner.username,
    }))
}
