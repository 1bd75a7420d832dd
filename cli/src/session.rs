//! Which server and token a command uses: `--url`, `--token`, `--profile`, then `Q8S_URL`,
//! `Q8S_TOKEN`, `Q8S_PROFILE`, then the configuration file (rules in `q8s_client::config`).

use std::future::Future;

use clap::Args;
use q8s_client::Client;
use q8s_client::config::{self, ConfigError, ConfigFile, Overrides};
use q8s_core::api::{StatusFilter, Visibility};

use crate::output::Advised;

/// The flags every service command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct Connection {
    /// The q8s server, e.g. http://127.0.0.1:8008 [env: Q8S_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// An API token [env: Q8S_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A profile of the configuration file [env: Q8S_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

impl Connection {
    /// The flags as one layer of settings.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            url: self.url.clone(),
            token: self.token.clone(),
            profile: self.profile.clone(),
        }
    }

    /// A client for the server and token the settings name.
    pub fn client(&self) -> anyhow::Result<Client> {
        let path = config::config_path()?;
        let file = ConfigFile::load(&path)?;
        let resolved = file
            .resolve(&path, &self.overrides(), &Overrides::from_env())
            .map_err(advise)?;
        Ok(Client::new(&resolved.url, resolved.token)?)
    }
}

/// The CLI's advice on a configuration error, where it has some. A URL that cannot be used
/// at all says so first (the API's own address, `…/api/v1`, rather than the server's).
fn advise(err: ConfigError) -> anyhow::Error {
    match &err {
        ConfigError::NoProfileForUrl { url, .. } if Client::new(url, None).is_err() => {
            Client::new(url, None).err().map_or(err.into(), Into::into)
        }
        ConfigError::NoProfileForUrl { url, .. } => Advised {
            hint: format!(
                "use a profile with --profile NAME and leave out --url and Q8S_URL, or sign in \
                 to this URL with `q8s-cli config setup --url {url}`"
            ),
            fact: err.to_string(),
            code: err.code().to_owned(),
            api: None,
        }
        .into(),
        _ => err.into(),
    }
}

/// `-v PRIVATE|ALL_USERS`.
pub fn parse_visibility(text: &str) -> Result<Visibility, String> {
    text.parse()
        .map_err(|e: q8s_core::api::UnknownValue| e.to_string())
}

/// clap's parser of `--status`: core's [`StatusFilter`] words.
pub fn parse_status_filter(text: &str) -> Result<StatusFilter, String> {
    text.parse()
        .map_err(|e: q8s_core::api::UnknownValue| e.to_string())
}

/// Runs `future` on a single-threaded tokio runtime (enough for a client; `exec` builds its
/// own multi-threaded one).
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
