//! `q8s-cli config setup`: sign in (browser loopback flow, device flow, or a token given as
//! is) and save the server, the token and its id as a profile of the configuration file;
//! `config logout` is in `logout.rs`.

use std::io::IsTerminal as _;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use q8s_client::config::{self, ConfigFile, Overrides, Profile};
use q8s_client::{Client, DEFAULT_URL, DevicePoll};
use q8s_core::api::{ApiError, ErrorCode, Pkce, TokenAnswer};
use serde_json::json;

use crate::logout;
use crate::loopback::{Callback, Loopback};
use crate::output::{Format, outln, print_json};
use crate::session::{Connection, block_on};

/// How long the browser has to come back.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Sign in to a q8s server and save it as a profile.
    Setup(SetupArgs),
    /// Sign out: revoke the profile's token on its server and forget it here.
    #[command(
        after_help = "Revokes the token on the server, then removes it (and its id) from the profile; the URL\nstays, so `q8s-cli config setup` signs in again. When the server cannot be reached, or\nthe token is already revoked, the token is still forgotten here, and you are told so.\n\nExamples:\n  q8s-cli config logout\n  q8s-cli config logout --profile prod"
    )]
    Logout,
}

/// `config setup [--url U] [--profile P] [--device] [--token T]`.
#[derive(Debug, Args)]
#[command(
    after_help = "Opens your browser to sign in (the URL is printed too); --device signs in with a code entered\nin any browser, for SSH sessions; --token saves a token you already have.\n\nExamples:\n  q8s-cli config setup\n  q8s-cli config setup --url https://q8s.example.com --profile prod\n  q8s-cli config setup --device\n  q8s-cli config setup --token \"$(cat q8s-data/admin-token)\""
)]
pub struct SetupArgs {
    /// Sign in with a code shown here, entered in a browser on any machine.
    #[arg(long, conflicts_with = "no_browser")]
    device: bool,
    /// Do not try to open a browser; only print the sign-in URL.
    #[arg(long)]
    no_browser: bool,
}

/// Runs a `config` subcommand.
pub fn run(
    command: ConfigCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let args = match command {
        ConfigCommand::Setup(args) => args,
        ConfigCommand::Logout => return logout::run(format, connection),
    };
    let path = config::config_path()?;
    let file = ConfigFile::load(&path)?;
    let env = Overrides::from_env();
    let profile = file.profile_name(&connection.overrides(), &env);
    let url = connection
        .url
        .clone()
        .or(env.url)
        .or_else(|| file.profiles.get(&profile).and_then(|p| p.url.clone()))
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let client = Client::new(&url, None)?;
    let json = format == Format::Json;
    let ((token, token_id), me) = block_on(async {
        let token = match &connection.token {
            Some(token) => TokenAnswer {
                access_token: token.clone(),
                token_type: "Bearer".to_owned(),
                token_id: None,
            },
            None if args.device => device_flow(&client, json).await?,
            None => loopback_flow(&client, !args.no_browser).await?,
        };
        let signed_in = client.clone().with_token(token.access_token.clone());
        let me = match signed_in.me().await {
            Err(e)
                if connection.token.is_some() && e.code() == ErrorCode::Unauthorized.as_str() =>
            {
                return Err(logout::given_token_refused(client.url()).into());
            }
            me => me?,
        };
        // A token given as is: its id from the server's list, when the server has one.
        let token_id = match token.token_id {
            Some(id) => Some(id),
            None => signed_in
                .tokens(false)
                .await
                .ok()
                .and_then(|tokens| tokens.into_iter().find(|t| t.current))
                .map(|t| t.id),
        };
        anyhow::Ok(((token.access_token, token_id), me))
    })??;
    let saved = Profile {
        url: Some(client.url().to_owned()),
        token: Some(token),
        token_id,
    };
    config::save_profile(&path, &profile, &saved, false)?;
    if json {
        print_json(&json!({
            "profile": profile,
            "url": client.url(),
            "username": me.username,
            "admin": me.admin,
            "config": path,
        }))?;
    } else {
        let role = if me.admin { " (admin)" } else { "" };
        outln!("Signed in to {} as {}{role}.", client.url(), me.username);
        outln!("Saved as profile `{profile}` in {}.", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The loopback flow: a listener on 127.0.0.1, the browser sent to the server's authorize
/// page, the code exchanged for a token.
async fn loopback_flow(client: &Client, open: bool) -> anyhow::Result<TokenAnswer> {
    let loopback = Loopback::bind().await?;
    let pkce = Pkce::new()?;
    let url = client.authorize_url(loopback.redirect_uri(), &pkce);
    eprintln!("Sign in to q8s in your browser:\n\n  {url}\n");
    if open && !open_browser(&url) {
        eprintln!("(no browser could be opened: open the URL above yourself)");
    }
    eprintln!("Waiting for the browser… (over SSH, use `q8s-cli config setup --device`)");
    let (callback, pending) = loopback.wait(&pkce.state, BROWSER_TIMEOUT).await?;
    let code = match callback {
        Callback::Code(code) => code,
        Callback::Error { error, description } => {
            pending
                .finish(
                    false,
                    "Not signed in",
                    "The sign-in was not allowed. You can close this tab.",
                )
                .await;
            return Err(ApiError::SignIn {
                code: error.replace('_', "-"),
                description: description.unwrap_or_else(|| error.replace('_', " ")),
            }
            .into());
        }
    };
    match client
        .exchange_code(&code, &pkce, loopback.redirect_uri())
        .await
    {
        Ok(token) => {
            pending
                .finish(
                    true,
                    "Signed in",
                    "q8s-cli is signed in. You can close this tab and return to your terminal.",
                )
                .await;
            Ok(token)
        }
        Err(e) => {
            pending.finish(false, "Not signed in", &e.to_string()).await;
            Err(e.into())
        }
    }
}

/// Opens `url` with `$BROWSER` when set, else the desktop's opener. True when one started.
fn open_browser(url: &str) -> bool {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(browser) if !browser.trim().is_empty() => {
            browser.split(':').map(str::to_owned).collect()
        }
        _ if cfg!(target_os = "macos") => vec!["open".to_owned()],
        _ => vec!["xdg-open".to_owned()],
    };
    candidates.iter().any(|program| {
        std::process::Command::new(program)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// What the device flow waits for, until when, and how to stop waiting.
fn waiting_line(expires_in: u64, now: time::OffsetDateTime) -> String {
    let at = now + Duration::from_secs(expires_in);
    let minutes = expires_in.div_ceil(60);
    format!(
        "Waiting for approval; the code expires in {minutes} minute{} (at {:02}:{:02} UTC). \
         Ctrl-C cancels.",
        if minutes == 1 { "" } else { "s" },
        at.hour(),
        at.minute()
    )
}

/// The device flow: a code the user enters at the server's `/device` page, and polls until
/// the user decides (at the pace the server asks for).
async fn device_flow(client: &Client, json: bool) -> anyhow::Result<TokenAnswer> {
    let start = client.start_device_authorization().await?;
    eprintln!(
        "To sign in, open this page in any browser:\n\n  {}\n\nand enter the code  {}\n",
        start.verification_uri, start.user_code
    );
    if let Some(complete) = &start.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    eprintln!(
        "{}",
        waiting_line(start.expires_in, time::OffsetDateTime::now_utc())
    );
    let spinner = if !json && std::io::stderr().is_terminal() {
        let s = ProgressBar::new_spinner().with_message("waiting for approval…");
        s.enable_steady_tick(Duration::from_millis(100));
        s
    } else {
        ProgressBar::hidden()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(start.expires_in);
    let mut interval = Duration::from_secs(start.interval.max(1));
    let token = loop {
        tokio::time::sleep(interval).await;
        match client.poll_device_token(&start.device_code).await? {
            DevicePoll::Token(token) => break token,
            DevicePoll::SlowDown => interval += Duration::from_secs(5),
            DevicePoll::Pending => {}
        }
        if tokio::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Err(ApiError::SignIn {
                code: ErrorCode::ExpiredToken.as_str().into(),
                description: "the code was not approved in time".into(),
            }
            .into());
        }
    };
    spinner.finish_and_clear();
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_says_until_when_and_how_to_stop() {
        let now = time::macros::datetime!(2026-12-05 10:55:30 UTC);
        assert_eq!(
            waiting_line(600, now),
            "Waiting for approval; the code expires in 10 minutes (at 11:05 UTC). Ctrl-C cancels."
        );
        assert!(waiting_line(30, now).contains("in 1 minute (at 10:56 UTC)"));
    }
}
