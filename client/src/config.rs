//! Where a client finds its server and token: the configuration file (`$Q8S_CONFIG`, or
//! `~/.config/q8s/config.toml`, mode 0600) with named profiles, the `Q8S_URL`, `Q8S_TOKEN`
//! and `Q8S_PROFILE` variables, and the CLI's flags — flags first, then the environment, then
//! the file. The CLI and the Python package read it the same way. Native builds only.
//!
//! ```toml
//! default = "local"
//! [profiles.local]
//! url = "http://127.0.0.1:8008"
//! token = "q8s_…"
//! token_id = "0b6c…"  # to revoke it: `q8s-cli config logout`
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use q8s_core::api::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::client::DEFAULT_URL;

/// The profile used when neither a flag, `Q8S_PROFILE` nor the file's `default` names one.
pub const DEFAULT_PROFILE: &str = "default";

/// The configuration file: a default profile and named profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The profile used when none is named.
    pub default: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One server and the token for it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The server's URL.
    pub url: Option<String>,
    /// An API token of that server.
    pub token: Option<String>,
    /// The token's id, to revoke it (`config logout`); written by `config setup` when the
    /// server tells it.
    pub token_id: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("token_id", &self.token_id)
            .finish()
    }
}

/// Why the configuration could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `$Q8S_CONFIG` nor `$HOME` is set.
    #[error("cannot find the configuration file: set Q8S_CONFIG or HOME")]
    NoPath,
    /// The file exists but cannot be read, or cannot be written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// `reading` or `writing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A profile named by `--profile` or `Q8S_PROFILE` is not in the file.
    #[error("there is no profile `{name}` in {} (profiles: {}); create it with `q8s-cli config setup --profile {name}`", path.display(), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The file.
        path: PathBuf,
        /// The profiles it has.
        known: Vec<String>,
    },
    /// A URL given by flag or environment, without a token, that no profile is for: the
    /// request would go without one.
    #[error("no profile is for {url}: a token is sent only to the URL it was saved for (profiles in {}: {})", path.display(), profile_list(known))]
    NoProfileForUrl {
        /// The URL given.
        url: String,
        /// The file.
        path: PathBuf,
        /// The profiles it has, with their URLs.
        known: Vec<(String, Option<String>)>,
    },
}

fn profile_list(known: &[(String, Option<String>)]) -> String {
    let named: Vec<String> = known
        .iter()
        .map(|(name, url)| match url {
            Some(url) => format!("`{name}` for {url}"),
            None => format!("`{name}` without a URL"),
        })
        .collect();
    named.join(", ")
}

impl ConfigError {
    /// The stable code: `config-path`, `config-io`, `config-invalid` or `unknown-profile`
    /// (also for a URL no profile is for).
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::NoPath => ErrorCode::ConfigPath,
            ConfigError::Io { .. } => ErrorCode::ConfigIo,
            ConfigError::Invalid { .. } => ErrorCode::ConfigInvalid,
            ConfigError::UnknownProfile { .. } | ConfigError::NoProfileForUrl { .. } => {
                ErrorCode::UnknownProfile
            }
        }
        .as_str()
    }
}

/// One layer of settings: the flags, or the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--url` / `Q8S_URL`.
    pub url: Option<String>,
    /// `--token` / `Q8S_TOKEN`.
    pub token: Option<String>,
    /// `--profile` / `Q8S_PROFILE`.
    pub profile: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("profile", &self.profile)
            .finish()
    }
}

impl Overrides {
    /// `Q8S_URL`, `Q8S_TOKEN` and `Q8S_PROFILE` (empty values count as unset).
    pub fn from_env() -> Overrides {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Overrides {
            url: var("Q8S_URL"),
            token: var("Q8S_TOKEN"),
            profile: var("Q8S_PROFILE"),
        }
    }
}

/// The settings a client uses, and where each came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The server's URL.
    pub url: String,
    /// The token, if any.
    pub token: Option<String>,
    /// The profile consulted.
    pub profile: String,
    /// The profile exists in the file.
    pub profile_exists: bool,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("profile", &self.profile)
            .field("profile_exists", &self.profile_exists)
            .finish()
    }
}

/// `$Q8S_CONFIG`, else `$HOME/.config/q8s/config.toml`.
pub fn config_path() -> Result<PathBuf, ConfigError> {
    if let Some(path) = std::env::var_os("Q8S_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(ConfigError::NoPath)?;
    Ok(PathBuf::from(home).join(".config/q8s/config.toml"))
}

impl ConfigFile {
    /// Reads the file; a file that does not exist is an empty configuration.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    action: "reading",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })
    }

    /// The name of the profile to use: the flag's, else `Q8S_PROFILE`, else the file's
    /// `default`, else [`DEFAULT_PROFILE`].
    pub fn profile_name(&self, flags: &Overrides, env: &Overrides) -> String {
        flags
            .profile
            .clone()
            .or_else(|| env.profile.clone())
            .or_else(|| self.default.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned())
    }

    /// Applies the precedence: flags, then environment, then the profile, then
    /// [`DEFAULT_URL`]. A profile named explicitly (flag or `Q8S_PROFILE`) must exist.
    ///
    /// The profile's token is used only with the profile's own URL: a URL given by flag or
    /// environment does not receive a token meant for another server. Such a URL, when no
    /// profile is named, picks the profile saved for exactly that URL (the default one first).
    /// Names are compared as written: `localhost` is not `127.0.0.1`, since `localhost` may
    /// reach `[::1]`, where another process can listen on the same port.
    pub fn resolve(
        &self,
        path: &Path,
        flags: &Overrides,
        env: &Overrides,
    ) -> Result<Resolved, ConfigError> {
        let mut name = self.profile_name(flags, env);
        let named = flags.profile.is_some() || env.profile.is_some();
        if named && !self.profiles.contains_key(&name) {
            return Err(ConfigError::UnknownProfile {
                name,
                path: path.to_owned(),
                known: self.profiles.keys().cloned().collect(),
            });
        }
        let given_url = flags.url.clone().or_else(|| env.url.clone());
        let url_of = |name: &str| self.profiles.get(name).and_then(|p| p.url.clone());
        if let Some(given) = given_url.as_deref().filter(|_| !named) {
            let own =
                |name: &String| same_url(given, url_of(name).as_deref().unwrap_or(DEFAULT_URL));
            if !own(&name) {
                if let Some(other) = self.profiles.keys().find(|n| own(n)) {
                    name = other.clone();
                }
            }
        }
        let profile = self.profiles.get(&name);
        let profile_url = url_of(&name);
        let url = given_url
            .clone()
            .or_else(|| profile_url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let same_server = same_url(&url, profile_url.as_deref().unwrap_or(DEFAULT_URL));
        let token = flags
            .token
            .clone()
            .or_else(|| env.token.clone())
            .or_else(|| {
                profile
                    .and_then(|p| p.token.clone())
                    .filter(|_| same_server)
            });
        if token.is_none() && given_url.is_some() && !self.profiles.is_empty() {
            return Err(ConfigError::NoProfileForUrl {
                url,
                path: path.to_owned(),
                known: self
                    .profiles
                    .iter()
                    .map(|(name, p)| (name.clone(), p.url.clone()))
                    .collect(),
            });
        }
        Ok(Resolved {
            url,
            token,
            profile: name,
            profile_exists: profile.is_some(),
        })
    }
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// Writes `profile` under `name` into the file at `path`, keeping everything else in it
/// (other profiles, comments), and makes it the default when there is none yet or when
/// `make_default`. The file is replaced atomically and is readable by its owner only (0600);
/// its folder is created (0700) when missing.
pub fn save_profile(
    path: &Path,
    name: &str,
    profile: &Profile,
    make_default: bool,
) -> Result<(), ConfigError> {
    let io = |action: &'static str| {
        move |source: std::io::Error| ConfigError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io("reading")(e)),
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.to_owned(),
                message: e.message().to_owned(),
            })?;
    if make_default || doc.get("default").is_none() {
        doc["default"] = toml_edit::value(name);
    }
    if !doc.contains_table("profiles") {
        let mut profiles = toml_edit::Table::new();
        profiles.set_implicit(true);
        doc["profiles"] = toml_edit::Item::Table(profiles);
    }
    let profiles = doc["profiles"]
        .as_table_mut()
        .ok_or_else(|| ConfigError::Invalid {
            path: path.to_owned(),
            message: "`profiles` is not a table".into(),
        })?;
    let entry = profiles
        .entry(name)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let table = entry
        .as_table_like_mut()
        .ok_or_else(|| ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("`profiles.{name}` is not a table"),
        })?;
    let keys = [
        ("url", &profile.url),
        ("token", &profile.token),
        ("token_id", &profile.token_id),
    ];
    for (key, value) in keys {
        match value {
            Some(v) => {
                table.insert(key, toml_edit::value(v.as_str()));
            }
            None => {
                table.remove(key);
            }
        }
    }
    write_private(path, doc.to_string().as_bytes()).map_err(io("writing"))
}

/// Replaces `path` with `bytes` through a 0600 temporary file in the same folder.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    // tempfile creates files with mode 0600.
    let mut temp = tempfile::Builder::new()
        .prefix(".config-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(url: Option<&str>, token: Option<&str>, profile: Option<&str>) -> Overrides {
        Overrides {
            url: url.map(Into::into),
            token: token.map(Into::into),
            profile: profile.map(Into::into),
        }
    }

    fn file() -> ConfigFile {
        toml::from_str(
            "default = \"local\"\n[profiles.local]\nurl = \"http://127.0.0.1:8008\"\ntoken = \"t-local\"\n\
             [profiles.prod]\nurl = \"https://q8s.example.com\"\ntoken = \"t-prod\"\n",
        )
        .unwrap()
    }

    #[test]
    fn flags_win_over_environment_over_file() {
        let p = Path::new("c.toml");
        let none = Overrides::default();
        let r = file().resolve(p, &none, &none).unwrap();
        assert_eq!(
            (r.url.as_str(), r.token.as_deref(), r.profile.as_str()),
            ("http://127.0.0.1:8008", Some("t-local"), "local")
        );
        let env = layer(None, None, Some("prod"));
        let r = file().resolve(p, &none, &env).unwrap();
        assert_eq!(r.token.as_deref(), Some("t-prod"));
        let flags = layer(None, None, Some("local"));
        assert_eq!(file().resolve(p, &flags, &env).unwrap().profile, "local");
        let env = layer(Some("http://ci:8008"), Some("t-env"), None);
        let flags = layer(None, Some("t-flag"), None);
        let r = file().resolve(p, &flags, &env).unwrap();
        assert_eq!(
            (r.url.as_str(), r.token.as_deref()),
            ("http://ci:8008", Some("t-flag"))
        );
    }

    #[test]
    fn a_token_alone_works_with_the_default_url() {
        let env = layer(None, Some("t-ci"), None);
        let r = ConfigFile::default()
            .resolve(Path::new("none"), &Overrides::default(), &env)
            .unwrap();
        assert_eq!(r.url, DEFAULT_URL);
        assert_eq!(r.token.as_deref(), Some("t-ci"));
        assert!(!r.profile_exists);
    }

    #[test]
    fn a_profile_token_never_goes_to_another_server() {
        // Without a token of its own, a URL no profile is for is an error naming the profiles.
        let flags = layer(Some("http://elsewhere:1"), None, None);
        let e = file()
            .resolve(Path::new("c"), &flags, &Overrides::default())
            .unwrap_err();
        assert_eq!(e.code(), "unknown-profile");
        assert_eq!(
            e.to_string(),
            "no profile is for http://elsewhere:1: a token is sent only to the URL it was saved \
             for (profiles in c: `local` for http://127.0.0.1:8008, `prod` for \
             https://q8s.example.com)"
        );
        // The same server by another name is another URL: the token does not go there.
        let flags = layer(Some("http://localhost:8008"), None, None);
        let e = file()
            .resolve(Path::new("c"), &flags, &Overrides::default())
            .unwrap_err();
        assert_eq!(e.code(), "unknown-profile");
        // With a token of its own, it goes on (the token given is the one sent).
        let flags = layer(Some("http://elsewhere:1"), Some("t-flag"), None);
        let r = file()
            .resolve(Path::new("c"), &flags, &Overrides::default())
            .unwrap();
        assert_eq!(r.token.as_deref(), Some("t-flag"));
        // A profile named with another URL sends nothing, and says so.
        let flags = layer(Some("http://elsewhere:1"), None, Some("prod"));
        assert!(
            file()
                .resolve(Path::new("c"), &flags, &Overrides::default())
                .is_err()
        );
        // The URL of a profile that is not the default picks that profile.
        let env = layer(Some("https://q8s.example.com/"), None, None);
        let r = file()
            .resolve(Path::new("c"), &Overrides::default(), &env)
            .unwrap();
        assert_eq!(
            (r.profile.as_str(), r.token.as_deref()),
            ("prod", Some("t-prod"))
        );
        let flags = layer(Some("http://127.0.0.1:8008/"), None, None);
        let r = file()
            .resolve(Path::new("c"), &flags, &Overrides::default())
            .unwrap();
        assert_eq!(r.token.as_deref(), Some("t-local"));
    }

    #[test]
    fn unknown_named_profiles_are_errors() {
        let e = file()
            .resolve(
                Path::new("c.toml"),
                &layer(None, None, Some("stage")),
                &Overrides::default(),
            )
            .unwrap_err();
        assert_eq!(e.code(), "unknown-profile");
        assert!(e.to_string().contains("profiles: local, prod"), "{e}");
    }

    #[test]
    fn saving_keeps_other_profiles_and_comments_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q8s/config.toml");
        let local = Profile {
            url: Some("http://127.0.0.1:8008".into()),
            token: Some("a".into()),
            token_id: Some("id-a".into()),
        };
        save_profile(&path, "local", &local, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "default = \"local\"\n\n[profiles.local]\nurl = \"http://127.0.0.1:8008\"\ntoken = \"a\"\ntoken_id = \"id-a\"\n"
        );
        std::fs::write(&path, format!("# mine\n{text}")).unwrap();
        let prod = Profile {
            url: Some("https://x".into()),
            token: None,
            token_id: None,
        };
        save_profile(&path, "prod", &prod, false).unwrap();
        let loaded = ConfigFile::load(&path).unwrap();
        assert_eq!(loaded.default.as_deref(), Some("local"));
        assert_eq!(loaded.profiles["local"], local);
        assert_eq!(loaded.profiles["prod"], prod);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("# mine\n")
        );
        // Signing out: the token and its id go, the URL stays.
        let signed_out = Profile {
            token: None,
            token_id: None,
            ..local.clone()
        };
        save_profile(&path, "local", &signed_out, false).unwrap();
        assert_eq!(
            ConfigFile::load(&path).unwrap().profiles["local"],
            signed_out
        );
        save_profile(&path, "prod", &prod, true).unwrap();
        assert_eq!(
            ConfigFile::load(&path).unwrap().default.as_deref(),
            Some("prod")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp left"
        );
    }

    #[test]
    fn bad_files_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        assert_eq!(ConfigFile::load(&path).unwrap(), ConfigFile::default());
        std::fs::write(&path, "profiles = 3\n").unwrap();
        let e = ConfigFile::load(&path).unwrap_err();
        assert_eq!(e.code(), "config-invalid");
        assert!(e.to_string().starts_with(&path.display().to_string()));
    }
}
