//! `q8s-cli config logout`: revoke the profile's token on its server, then forget it (and
//! its id) in the configuration file, keeping the URL. Forgetting never depends on the
//! server: unreachable, or the token already revoked, the token is forgotten all the same and
//! the user is told what happened on the server.

use std::process::ExitCode;

use q8s_client::Client;
use q8s_client::config::{self, ConfigFile, Overrides, Profile};
use q8s_core::api::{ApiError, ErrorCode};
use serde_json::json;

use crate::output::{Advised, Format, outln, print_json};
use crate::session::{Connection, block_on};

/// What became of the token on the server.
enum Revocation {
    /// Revoked now.
    Revoked,
    /// The server no longer knew it (revoked before, or its account deleted).
    AlreadyGone,
    /// Not revoked: the server could not be asked, or refused; the reason.
    Failed(String),
}

/// Runs `config logout` for the profile the flags and environment name.
pub fn run(format: Format, connection: &Connection) -> anyhow::Result<ExitCode> {
    let path = config::config_path()?;
    let file = ConfigFile::load(&path)?;
    let name = file.profile_name(&connection.overrides(), &Overrides::from_env());
    let profile = file.profiles.get(&name).cloned().unwrap_or_default();
    let Some(token) = profile.token.clone() else {
        if format == Format::Json {
            print_json(&json!({"profile": name, "revoked": false, "forgotten": false}))?;
        } else {
            outln!("Profile `{name}` holds no token: nothing to sign out of.");
        }
        return Ok(ExitCode::SUCCESS);
    };
    // The token goes back to the server it came from, whatever --url or Q8S_URL say.
    let url = profile
        .url
        .clone()
        .unwrap_or_else(|| q8s_client::DEFAULT_URL.to_owned());
    let revocation = match Client::new(&url, Some(token)) {
        Ok(client) => block_on(revoke(&client, profile.token_id.as_deref()))?,
        Err(e) => Revocation::Failed(e.to_string()),
    };
    let forgotten = Profile {
        token: None,
        token_id: None,
        ..profile
    };
    config::save_profile(&path, &name, &forgotten, false)?;
    if format == Format::Json {
        let (revoked, note) = match &revocation {
            Revocation::Revoked => (true, None),
            Revocation::AlreadyGone => (false, Some("the server no longer knew the token")),
            Revocation::Failed(reason) => (false, Some(reason.as_str())),
        };
        print_json(&json!({
            "profile": name,
            "url": url,
            "revoked": revoked,
            "forgotten": true,
            "note": note,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    match &revocation {
        Revocation::Revoked => outln!("Revoked the token of profile `{name}` on {url}."),
        Revocation::AlreadyGone => outln!(
            "The token of profile `{name}` was already revoked on {url} (or is unknown there)."
        ),
        Revocation::Failed(reason) => eprintln!(
            "warning: the token of profile `{name}` was NOT revoked on {url}: {reason}\n\
             It still works until revoked: once the server answers, sign in and run \
             `q8s-cli token list` and `q8s-cli token revoke ID`."
        ),
    }
    outln!(
        "Forgot it in {} (the URL stays: `q8s-cli config setup` signs in again).",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Revokes the token `client` sends: by `id` when the profile kept it, else the one the
/// server's list marks as current (profiles saved before ids were kept).
async fn revoke(client: &Client, id: Option<&str>) -> Revocation {
    let id = match id {
        Some(id) => id.to_owned(),
        None => match client.tokens(false).await {
            Ok(tokens) => match tokens.into_iter().find(|t| t.current) {
                Some(token) => token.id,
                None => return Revocation::Failed("the server did not list the token".into()),
            },
            Err(e) => return classify(e),
        },
    };
    match client.revoke_token(&id).await {
        Ok(()) => Revocation::Revoked,
        Err(e) => classify(e),
    }
}

/// A refused token (401) or an unknown id (404) is gone already; anything else failed.
fn classify(e: ApiError) -> Revocation {
    let gone = [ErrorCode::Unauthorized, ErrorCode::NotFound];
    if gone.iter().any(|code| e.code() == code.as_str()) {
        Revocation::AlreadyGone
    } else {
        Revocation::Failed(e.to_string())
    }
}

/// `config setup --token T` with a token the server refuses: that token, not the absence
/// of one, is the problem; `unauthorized`, with the way to a new token (not "run `config
/// setup`", which is what the user just did).
pub fn given_token_refused(url: &str) -> Advised {
    Advised {
        fact: format!(
            "the token given with --token was refused by {url}: it was revoked, or it is not a \
             token of this server"
        ),
        code: ErrorCode::Unauthorized.as_str().to_owned(),
        hint: format!(
            "sign in without --token (`q8s-cli config setup --url {url}`) to get a new one"
        ),
        api: None,
    }
}
