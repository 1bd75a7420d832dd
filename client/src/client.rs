//! [`Client`]: the async client of the q8s REST API, on reqwest. It builds natively and for
//! `wasm32-unknown-unknown` (where the browser's `fetch` carries the requests).

use std::collections::BTreeMap;

use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use q8s_core::api::{
    ApiError, App, CapacityReport, CreatedToken, CreatedUser, Instance, Me, SecretAccessChange,
    SecretInfo, SecretWrite, Visibility,
};

/// The address of a q8s server started with its defaults.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8008";

/// How long a JSON call may take natively before it counts as unreachable.
#[cfg(not(target_family = "wasm"))]
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The server's address when `url` is (or is under) its API's (`…/api`, `…/api/v1/…`), a
/// mistake the server would answer with 404 to every call.
fn server_of_api_url(url: &Url) -> Option<String> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let at = (0..segments.len())
        .find(|&i| segments[i] == "api" && segments.get(i + 1).is_none_or(|next| *next == "v1"))?;
    let mut server = url.clone();
    server.set_path(&segments[..at].join("/"));
    Some(server.as_str().trim_end_matches('/').to_owned())
}

/// A client of one q8s server, with or without an API token. Cheap to clone.
///
/// ```
/// use q8s_client::Client;
/// let client = Client::new("http://127.0.0.1:8008/", Some("q8s_…".into()))?;
/// assert_eq!(client.url(), "http://127.0.0.1:8008");
/// assert!(Client::new("ftp://example.com", None).is_err());
/// // The API's address is not the server's: the error says which one to use.
/// let err = Client::new("http://127.0.0.1:8008/api/v1", None).unwrap_err();
/// assert!(err.to_string().contains("use http://127.0.0.1:8008 "));
/// assert!(Client::new("https://example.com/q8s/", None).is_ok());
/// # Ok::<(), q8s_core::api::ApiError>(())
/// ```
#[derive(Clone)]
pub struct Client {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    // The token is a secret: never in logs or panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url())
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `url` (`http://` or `https://`, possibly with a path
    /// prefix), sending `token` as `Authorization: Bearer`.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, ApiError> {
        let invalid = |reason: &str| ApiError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("use http:// or https://"));
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment"));
        }
        base.path_segments_mut()
            .map_err(|()| invalid("it cannot be a base URL"))?
            .pop_if_empty();
        if let Some(server) = server_of_api_url(&base) {
            return Err(invalid(&format!(
                "it is the API's address, not the server's: use {server}"
            )));
        }
        Ok(Client {
            base,
            token: token.filter(|t| !t.is_empty()),
            http: http_client(),
        })
    }

    /// The server's base URL, without trailing slash.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The API token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// This client with another token.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// `<base>/<segments…>`, each segment percent-encoded.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `<base>/api/v1/<segments…>`.
    fn api(&self, segments: &[&str]) -> Url {
        let mut all = vec!["api", "v1"];
        all.extend_from_slice(segments);
        self.endpoint(&all)
    }

    /// A request with the token; JSON calls get a time limit natively.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub(crate) fn call(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let request = self.request(method, self.api(segments));
        #[cfg(not(target_family = "wasm"))]
        let request = request.timeout(CALL_TIMEOUT);
        request
    }

    /// Sends a request; a request that gets no answer is [`ApiError::Unreachable`].
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Response, ApiError> {
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    pub(crate) fn unreachable(&self, err: &reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            url: self.url().to_owned(),
            reason: transport_reason(err),
        }
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ApiError> {
        let response = self.send(request).await?;
        read_json(self, response).await
    }

    async fn empty(&self, request: RequestBuilder) -> Result<(), ApiError> {
        let response = self.send(request).await?;
        check(self, response).await.map(drop)
    }

    /// `GET /me`: who the token belongs to.
    pub async fn me(&self) -> Result<Me, ApiError> {
        self.json(self.call(Method::GET, &["me"])).await
    }

    /// `GET /admin/capacity` (admins): the answering replica's memory admission and every
    /// replica's instances by status.
    pub async fn capacity(&self) -> Result<CapacityReport, ApiError> {
        self.json(self.call(Method::GET, &["admin", "capacity"]))
            .await
    }

    /// `GET /apps/{id}`.
    pub async fn app(&self, id: &str) -> Result<App, ApiError> {
        self.json(self.call(Method::GET, &["apps", id])).await
    }

    /// `PATCH /apps/{id}`: changes an app's visibility (nothing else can change).
    pub async fn update_app(&self, id: &str, visibility: Visibility) -> Result<App, ApiError> {
        let body = json!({ "visibility": visibility });
        self.json(self.call(Method::PATCH, &["apps", id]).json(&body))
            .await
    }

    /// `DELETE /apps/{id}`; refused (`app-has-instances`) while instances are not terminated.
    pub async fn delete_app(&self, id: &str) -> Result<(), ApiError> {
        self.empty(self.call(Method::DELETE, &["apps", id])).await
    }

    /// `POST /apps`: imports a bundle held in memory (the browser's way; natively
    /// [`Client::import_file`] streams from disk with progress).
    pub async fn import_bytes(
        &self,
        bytes: Vec<u8>,
        visibility: Visibility,
    ) -> Result<App, ApiError> {
        let request = self
            .request(Method::POST, self.api(&["apps"]))
            .query(&[("visibility", visibility.as_str())])
            .header(reqwest::header::CONTENT_TYPE, "application/zip");
        let sha256 = q8s_core::archive::ArchiveDigest::of(&bytes).hex();
        let request = request
            .header(
                q8s_core::api::REPR_DIGEST_HEADER,
                q8s_core::api::repr_digest(&sha256).unwrap_or_default(),
            )
            .body(bytes);
        self.json(request).await
    }

    /// `POST /apps/{id}/instances`: launches an instance.
    pub async fn run(&self, app_id: &str, visibility: Visibility) -> Result<Instance, ApiError> {
        let body = json!({ "visibility": visibility });
        self.json(
            self.call(Method::POST, &["apps", app_id, "instances"])
                .json(&body),
        )
        .await
    }

    /// `GET /instances/{id}`.
    pub async fn instance(&self, id: &str) -> Result<Instance, ApiError> {
        self.json(self.call(Method::GET, &["instances", id])).await
    }

    /// `PATCH /instances/{id}`: changes an instance's visibility.
    pub async fn update_instance(
        &self,
        id: &str,
        visibility: Visibility,
    ) -> Result<Instance, ApiError> {
        let body = json!({ "visibility": visibility });
        self.json(self.call(Method::PATCH, &["instances", id]).json(&body))
            .await
    }

    /// `POST /instances/{id}/suspend`: stops the processes, keeps the volume.
    pub async fn suspend(&self, id: &str) -> Result<Instance, ApiError> {
        self.json(self.call(Method::POST, &["instances", id, "suspend"]))
            .await
    }

    /// `POST /instances/{id}/resume`: starts a suspended or failed instance again.
    pub async fn resume(&self, id: &str) -> Result<Instance, ApiError> {
        self.json(self.call(Method::POST, &["instances", id, "resume"]))
            .await
    }

    /// `DELETE /instances/{id}`: stops the processes and removes the volume.
    pub async fn terminate(&self, id: &str) -> Result<(), ApiError> {
        self.empty(self.call(Method::DELETE, &["instances", id]))
            .await
    }

    /// `GET /instances/{id}/logs`: the log (the last `tail` lines); with `follow` the stream
    /// stays open until the instance stops.
    pub async fn logs(
        &self,
        id: &str,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<LogStream, ApiError> {
        let mut query: Vec<(&str, String)> = vec![("follow", follow.to_string())];
        if let Some(tail) = tail {
            query.push(("tail", tail.to_string()));
        }
        let url = self.api(&["instances", id, "logs"]);
        let response = self
            .send(self.request(Method::GET, url).query(&query))
            .await?;
        let response = check(self, response).await?;
        Ok(LogStream {
            client: self.clone(),
            response: Some(response),
            buffer: Vec::new(),
            done: false,
        })
    }

    /// `PUT /secrets/{name}` (admins): creates or replaces a secret with exactly these keys,
    /// and changes its rule as `access` says (an empty change keeps it; a new secret starts
    /// admins-only).
    pub async fn set_secret(
        &self,
        name: &str,
        data: &BTreeMap<String, String>,
        access: &SecretAccessChange,
    ) -> Result<SecretInfo, ApiError> {
        let body = SecretWrite {
            data: data.clone(),
            users: access.users.clone(),
            apps: access.apps.clone(),
        };
        self.json(self.call(Method::PUT, &["secrets", name]).json(&body))
            .await
    }

    /// `PATCH /secrets/{name}` (admins): changes who may use a secret, values untouched.
    pub async fn set_secret_access(
        &self,
        name: &str,
        access: &SecretAccessChange,
    ) -> Result<SecretInfo, ApiError> {
        self.json(self.call(Method::PATCH, &["secrets", name]).json(access))
            .await
    }

    /// `DELETE /secrets/{name}` (admins).
    pub async fn delete_secret(&self, name: &str) -> Result<(), ApiError> {
        self.empty(self.call(Method::DELETE, &["secrets", name]))
            .await
    }

    /// `POST /users` (admins): without `password` the server generates one and returns it once.
    pub async fn create_user(
        &self,
        username: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<CreatedUser, ApiError> {
        #[derive(Serialize)]
        struct Body<'a> {
            username: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            password: Option<&'a str>,
            admin: bool,
        }
        let body = Body {
            username,
            password,
            admin,
        };
        self.json(self.call(Method::POST, &["users"]).json(&body))
            .await
    }

    /// `POST /tokens`: mints another API token for the caller.
    pub async fn create_token(&self, name: Option<&str>) -> Result<CreatedToken, ApiError> {
        let body = json!({ "name": name });
        self.json(self.call(Method::POST, &["tokens"]).json(&body))
            .await
    }

    /// `DELETE /tokens/{id}`: revokes one of the caller's tokens (admins: anyone's).
    pub async fn revoke_token(&self, id: &str) -> Result<(), ApiError> {
        self.empty(self.call(Method::DELETE, &["tokens", id])).await
    }

    /// `PUT /app-names/{name}` (admins): gives an app Name to `owner`, who alone imports
    /// versions under it from then on.
    pub async fn transfer_app_name(
        &self,
        name: &str,
        owner: &str,
    ) -> Result<q8s_core::api::AppName, ApiError> {
        let body = json!({ "owner": owner });
        self.json(self.call(Method::PUT, &["app-names", name]).json(&body))
            .await
    }
}

#[cfg(not(target_family = "wasm"))]
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("q8s/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

#[cfg(target_family = "wasm")]
fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The few words that say why a request got no answer, from the error's chain.
fn transport_reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => "timed out".to_owned(),
                _ => io.to_string(),
            };
        }
        source = e.source();
    }
    // The innermost message is the most specific (`dns error: …`, `invalid peer certificate`).
    let mut innermost = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        innermost = e.to_string();
        source = e.source();
    }
    innermost
}

/// The response when it is a success, else the error it carries.
pub(crate) async fn check(client: &Client, response: Response) -> Result<Response, ApiError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().to_string();
    let text = response.text().await.map_err(|e| client.unreachable(&e))?;
    Err(ApiError::from_response(status.as_u16(), &url, &text))
}

/// The JSON of a successful answer.
pub(crate) async fn read_json<T: DeserializeOwned>(
    client: &Client,
    response: Response,
) -> Result<T, ApiError> {
    let response = check(client, response).await?;
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let bytes = response.bytes().await.map_err(|e| client.unreachable(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::UnexpectedResponse {
        url,
        status,
        reason: format!("not the JSON expected: {e}"),
    })
}

/// An instance's log as it arrives ([`Client::logs`]). Natively the bytes come as the server
/// sends them; in the browser build the body arrives whole when the response ends.
#[derive(Debug)]
pub struct LogStream {
    client: Client,
    response: Option<Response>,
    buffer: Vec<u8>,
    done: bool,
}

impl LogStream {
    /// The next bytes of the log as they arrive (whole lines, as the server sends them);
    /// `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        if !self.buffer.is_empty() {
            return Ok(Some(std::mem::take(&mut self.buffer)));
        }
        if self.done {
            return Ok(None);
        }
        match self.read().await? {
            Some(bytes) => Ok(Some(bytes)),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    /// The next line of the log, without its line break; `None` at the end.
    pub async fn next_line(&mut self) -> Result<Option<String>, ApiError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.buffer);
                return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
            }
            match self.read().await? {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => self.done = true,
            }
        }
    }

    /// The next bytes off the wire.
    #[cfg(not(target_family = "wasm"))]
    async fn read(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(response) = &mut self.response else {
            return Ok(None);
        };
        match response.chunk().await {
            Ok(bytes) => Ok(bytes.map(|b| b.to_vec())),
            Err(e) => Err(self.client.unreachable(&e)),
        }
    }

    /// The whole body once it is complete: reqwest's `fetch` backend reads bodies whole.
    #[cfg(target_family = "wasm")]
    async fn read(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(response) = self.response.take() else {
            return Ok(None);
        };
        match response.bytes().await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(e) => Err(self.client.unreachable(&e)),
        }
    }
}

mod lists;
#[cfg(test)]
mod tests;

pub use lists::{InstanceList, Listed};
