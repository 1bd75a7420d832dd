//! The client side of the two sign-in flows of the server: the loopback authorization-code
//! flow with PKCE S256 (RFC 8252, RFC 7636) and the device flow (RFC 8628). Both end with an
//! ordinary API token.

use q8s_core::api::{ApiError, CLIENT_ID, DeviceAuthorization, OAuthErrorBody, Pkce, TokenAnswer};
use reqwest::Method;

use crate::client::{Client, check, read_json};

/// The grant type of device-flow polls.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One answer to a device-flow poll that did not end the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// The user has not decided yet: poll again after the interval.
    Pending,
    /// Polled too fast: add 5 seconds to the interval (RFC 8628 §3.5).
    SlowDown,
    /// Approved: the new API token and its id.
    Token(TokenAnswer),
}

impl Client {
    /// The page that starts the loopback flow in a browser: `/oauth/authorize?…` with the
    /// PKCE challenge, the state, and `redirect_uri` (`http://127.0.0.1:<port>/callback`).
    pub fn authorize_url(&self, redirect_uri: &str, pkce: &Pkce) -> String {
        let mut url = self.endpoint(&["oauth", "authorize"]);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", &pkce.state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges the code the browser brought back for an API token (and its id).
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce: &Pkce,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, ApiError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("code", code),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", redirect_uri),
        ];
        match self.token_request(&form).await? {
            Ok(token) => Ok(token),
            Err(err) => Err(ApiError::sign_in(&err.error, err.error_description)),
        }
    }

    /// Starts the device flow: the codes to show the user.
    pub async fn start_device_authorization(&self) -> Result<DeviceAuthorization, ApiError> {
        let url = self.endpoint(&["oauth", "device", "code"]);
        let request = self
            .request(Method::POST, url)
            .form(&[("client_id", CLIENT_ID)]);
        let response = self.send(request).await?;
        read_json(self, response).await
    }

    /// Polls the device flow once.
    pub async fn poll_device_token(&self, device_code: &str) -> Result<DevicePoll, ApiError> {
        let form = [
            ("grant_type", DEVICE_GRANT),
            ("client_id", CLIENT_ID),
            ("device_code", device_code),
        ];
        match self.token_request(&form).await? {
            Ok(token) => Ok(DevicePoll::Token(token)),
            Err(err) => match err.error.as_str() {
                "authorization_pending" => Ok(DevicePoll::Pending),
                "slow_down" => Ok(DevicePoll::SlowDown),
                _ => Err(ApiError::sign_in(&err.error, err.error_description)),
            },
        }
    }

    /// `POST /oauth/token`: the token, or the OAuth error the server answered.
    async fn token_request(
        &self,
        form: &[(&str, &str)],
    ) -> Result<Result<TokenAnswer, OAuthErrorBody>, ApiError> {
        let url = self.endpoint(&["oauth", "token"]);
        let response = self
            .send(self.request(Method::POST, url).form(form))
            .await?;
        if response.status() == reqwest::StatusCode::BAD_REQUEST
            || response.status() == reqwest::StatusCode::UNAUTHORIZED
        {
            let status = response.status().as_u16();
            let url = response.url().to_string();
            let text = response.text().await.map_err(|e| self.unreachable(&e))?;
            return serde_json::from_str::<OAuthErrorBody>(&text)
                .map(Err)
                .map_err(|_| ApiError::UnexpectedResponse {
                    url,
                    status,
                    reason: "not an OAuth error".into(),
                });
        }
        let response = check(self, response).await?;
        Ok(Ok(read_json(self, response).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_carries_every_parameter() {
        let client = Client::new("http://127.0.0.1:8008", None).unwrap();
        let pkce = Pkce::from_random([1; 48]);
        let url = client.authorize_url("http://127.0.0.1:5000/callback", &pkce);
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/oauth/authorize");
        let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "q8s-cli");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:5000/callback");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["code_challenge"], pkce.challenge);
        assert_eq!(query["state"], pkce.state);
        assert!(!format!("{pkce:?}").contains(&pkce.verifier));
    }
}
