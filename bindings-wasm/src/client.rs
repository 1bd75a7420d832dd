//! `Client`: core's REST client, for JS. Every method returns a `Promise` of the same JSON
//! objects the REST API answers with, and rejects with an `Error` carrying the `code`,
//! `status`, `details`, `diagnostics` and `hint` of core's `ApiError`.

use std::future::Future;

use js_sys::Promise;
use q8s_core::api::{ApiError, AppVersions, StatusFilter, Visibility};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{api_error_value, error, to_js};

/// A client of a q8s server. In a page served by q8s, `new Client(location.origin)` uses
/// the session cookie of the signed-in user; elsewhere pass an API token.
#[wasm_bindgen]
pub struct Client {
    inner: q8s_client::Client,
}

/// Runs `call` on a clone of the client (reqwest's client is a shared handle) and turns
/// its answer into a JS value.
fn promise<T, F, Fut>(client: &q8s_client::Client, call: F) -> Promise
where
    T: Serialize,
    F: FnOnce(q8s_client::Client) -> Fut,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let future = call(client.clone());
    future_to_promise(async move {
        let value = future.await.map_err(|e| api_error_value(&e))?;
        to_js(&value)
    })
}

/// Core's reading of a visibility a person gave, as the CLI and Python read it (any case,
/// `ALL-USERS` too).
fn visibility(text: &str) -> Result<Visibility, JsValue> {
    text.parse()
        .map_err(|e: q8s_core::api::UnknownValue| error("invalid-argument", &e.to_string()))
}

#[wasm_bindgen]
impl Client {
    /// A client of the server at `url` (absolute: `http(s)://host[:port][/prefix]`),
    /// sending `token` as `Authorization: Bearer` when given. Throws `invalid-url`.
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, token: Option<String>) -> Result<Client, JsValue> {
        let inner = q8s_client::Client::new(url, token).map_err(|e| api_error_value(&e))?;
        Ok(Client { inner })
    }

    /// The server's base URL, without trailing slash.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// `GET /me`: who is signed in.
    #[wasm_bindgen(unchecked_return_type = "Promise<Me>")]
    pub fn me(&self) -> Promise {
        promise(&self.inner, |c| async move { c.me().await })
    }

    /// `GET /admin/capacity` (admins): this server's memory admission (capacity, reserved,
    /// used, admitted and waiting instances) and the instances by status.
    #[wasm_bindgen(unchecked_return_type = "Promise<CapacityReport>")]
    pub fn capacity(&self) -> Promise {
        promise(&self.inner, |c| async move { c.capacity().await })
    }

    /// `GET /apps`: my apps, or with `all` every app I may see; the latest version of each
    /// Name unless `allVersions`.
    #[wasm_bindgen(unchecked_return_type = "Promise<App[]>")]
    pub fn apps(
        &self,
        all: bool,
        #[wasm_bindgen(js_name = allVersions)] all_versions: Option<bool>,
    ) -> Promise {
        let versions = if all_versions.unwrap_or(false) {
            AppVersions::All
        } else {
            AppVersions::Latest
        };
        promise(&self.inner, move |c| async move {
            c.apps(all, None, versions).await
        })
    }

    /// `GET /apps/{id}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<App>")]
    pub fn app(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.app(&id).await })
    }

    /// `PATCH /apps/{id}`: changes the app's visibility (`PRIVATE` or `ALL_USERS`).
    #[wasm_bindgen(js_name = setAppVisibility, unchecked_return_type = "Promise<App>")]
    pub fn set_app_visibility(&self, id: String, visibility_: &str) -> Result<Promise, JsValue> {
        let v = visibility(visibility_)?;
        Ok(promise(&self.inner, move |c| async move {
            c.update_app(&id, v).await
        }))
    }

    /// `DELETE /apps/{id}` (refused with `app-has-instances` while instances run).
    #[wasm_bindgen(js_name = deleteApp, unchecked_return_type = "Promise<null>")]
    pub fn delete_app(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.delete_app(&id).await })
    }

    /// `POST /apps/{id}/instances`: starts an instance with this visibility.
    #[wasm_bindgen(unchecked_return_type = "Promise<Instance>")]
    pub fn run(&self, app_id: String, visibility_: &str) -> Result<Promise, JsValue> {
        let v = visibility(visibility_)?;
        Ok(promise(&self.inner, move |c| async move {
            c.run(&app_id, v).await
        }))
    }

    /// `GET /instances`: my instances, or with `all` every instance I may see, newest first;
    /// `status` is `live` (default), `all` or statuses separated by commas. Resolves to
    /// `{instances, terminated_omitted}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<InstanceList>")]
    pub fn instances(&self, all: bool, status: Option<String>) -> Result<Promise, JsValue> {
        let status: StatusFilter =
            status.as_deref().unwrap_or("live").parse().map_err(
                |e: q8s_core::api::UnknownValue| error("invalid-argument", &e.to_string()),
            )?;
        Ok(promise(&self.inner, move |c| async move {
            c.instances(all, &status).await
        }))
    }

    /// `GET /instances/{id}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Instance>")]
    pub fn instance(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.instance(&id).await })
    }

    /// `PATCH /instances/{id}`: changes the instance's visibility.
    #[wasm_bindgen(js_name = setInstanceVisibility, unchecked_return_type = "Promise<Instance>")]
    pub fn set_instance_visibility(
        &self,
        id: String,
        visibility_: &str,
    ) -> Result<Promise, JsValue> {
        let v = visibility(visibility_)?;
        Ok(promise(&self.inner, move |c| async move {
            c.update_instance(&id, v).await
        }))
    }

    /// `POST /instances/{id}/suspend`: stops it, keeping its volume.
    #[wasm_bindgen(unchecked_return_type = "Promise<Instance>")]
    pub fn suspend(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.suspend(&id).await })
    }

    /// `POST /instances/{id}/resume`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Instance>")]
    pub fn resume(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.resume(&id).await })
    }

    /// `DELETE /instances/{id}`: stops it and removes its volume.
    #[wasm_bindgen(unchecked_return_type = "Promise<null>")]
    pub fn terminate(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.terminate(&id).await })
    }

    /// `GET /tokens`: my API tokens (never their secrets), or with `all` every user's (admins).
    #[wasm_bindgen(unchecked_return_type = "Promise<Token[]>")]
    pub fn tokens(&self, all: bool) -> Promise {
        promise(&self.inner, move |c| async move { c.tokens(all).await })
    }

    /// `POST /tokens`: mints an API token named `name`; its secret is in the answer only.
    #[wasm_bindgen(js_name = createToken, unchecked_return_type = "Promise<CreatedToken>")]
    pub fn create_token(&self, name: Option<String>) -> Promise {
        promise(&self.inner, move |c| async move {
            c.create_token(name.as_deref()).await
        })
    }

    /// `DELETE /tokens/{id}`: revokes one of my tokens (admins: anyone's).
    #[wasm_bindgen(js_name = revokeToken, unchecked_return_type = "Promise<null>")]
    pub fn revoke_token(&self, id: String) -> Promise {
        promise(&self.inner, |c| async move { c.revoke_token(&id).await })
    }

    /// `GET /instances/{id}/logs`: the log as it is now (the last `tail` lines when given).
    /// In a browser, follow a log with `fetch` and its body's reader (`followLog` in
    /// `q8s-wasm/http.js`): the fetch backend here reads bodies whole.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn logs(&self, id: String, tail: Option<u32>) -> Promise {
        promise(&self.inner, move |c| async move {
            let mut stream = c.logs(&id, tail.map(|t| t as usize), false).await?;
            let mut text = Vec::new();
            while let Some(chunk) = stream.next_chunk().await? {
                text.extend_from_slice(&chunk);
            }
            Ok(String::from_utf8_lossy(&text).into_owned())
        })
    }
}
