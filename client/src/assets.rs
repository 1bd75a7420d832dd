//! The images of an app (`GET /apps/{id}/icon`), for surfaces that show apps as cards: the
//! Python package's Jupyter views, the browser page.

use reqwest::Method;

use q8s_core::api::ApiError;

use crate::client::{Client, check};

/// An image file served by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `image/png` or `image/jpeg`, as the server says.
    pub media_type: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

impl Client {
    /// `GET /apps/{id}/icon`: the app's icon; `not-found` when the app has none.
    pub async fn icon(&self, app_id: &str) -> Result<Image, ApiError> {
        let url = self.endpoint(&["api", "v1", "apps", app_id, "icon"]);
        let response = self.send(self.request(Method::GET, url)).await?;
        let response = check(self, response).await?;
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok(Image {
            media_type,
            bytes: bytes.to_vec(),
        })
    }
}
