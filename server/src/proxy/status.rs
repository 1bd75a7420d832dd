//! The page a request gets when the instance has nothing to forward to: why, with the fitting
//! status code (pages that change by themselves reload).

use axum::http::StatusCode;
use axum::response::Response;
use q8s_runtime::InstanceStatus;
use q8s_runtime::forward::pages;

use crate::store::InstanceRecord;

/// Why there is nothing to forward to, as a page with the fitting status code.
pub(crate) fn status_page(record: &InstanceRecord) -> Response {
    let message = record.status_message.as_deref();
    match record.status {
        InstanceStatus::Pending => pages::retry_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The instance is waiting to start",
            message.unwrap_or("It starts as soon as the server has room for it."),
        ),
        InstanceStatus::Starting | InstanceStatus::Running => pages::retry_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The instance is starting",
            &match message {
                // A quoted error may end its own sentence.
                Some(message) => format!(
                    "{}. This page reloads by itself.",
                    message.trim_end_matches('.')
                ),
                None => "This page reloads by itself as soon as it is ready.".to_owned(),
            },
        ),
        InstanceStatus::Suspended if record.asleep => pages::retry_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The instance is asleep",
            "It was suspended after being idle and wakes on the next request. This page reloads \
             by itself.",
        ),
        InstanceStatus::Suspended => pages::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The instance is suspended",
            "Its owner has suspended it. It answers again once it is resumed.",
        ),
        InstanceStatus::Failed => pages::page(
            StatusCode::BAD_GATEWAY,
            "The instance has failed",
            message.unwrap_or("It could not be started."),
        ),
        InstanceStatus::Terminated => pages::page(
            StatusCode::GONE,
            "The instance is terminated",
            "It has been stopped for good.",
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::http::header;
    use uuid::Uuid;

    /// An instance record with `status` (for the pages' tests).
    pub(crate) fn record(status: InstanceStatus) -> InstanceRecord {
        InstanceRecord {
            id: Uuid::nil(),
            app_id: Uuid::nil(),
            app_name: "a".into(),
            app_version: "1".into(),
            app_title: None,
            app_icon: None,
            owner_id: Uuid::nil(),
            owner: "alice".into(),
            visibility: crate::store::Visibility::Private,
            desired: crate::store::DesiredState::Running,
            status,
            status_message: Some("OOMKilled".into()),
            asleep: false,
            restarts: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_status_has_its_page() {
        let expect = [
            (
                InstanceStatus::Pending,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                InstanceStatus::Starting,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                InstanceStatus::Running,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                InstanceStatus::Suspended,
                StatusCode::SERVICE_UNAVAILABLE,
                false,
            ),
            (InstanceStatus::Failed, StatusCode::BAD_GATEWAY, false),
            (InstanceStatus::Terminated, StatusCode::GONE, false),
        ];
        for (status, code, retry) in expect {
            let response = status_page(&record(status));
            assert_eq!(response.status(), code, "{status}");
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                retry,
                "{status}"
            );
        }
        // Asleep: it wakes by itself, so the page reloads.
        let asleep = InstanceRecord {
            asleep: true,
            ..record(InstanceStatus::Suspended)
        };
        let response = status_page(&asleep);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }
}
