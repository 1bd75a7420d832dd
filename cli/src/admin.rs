//! `q8s-cli secret list` (everyone: the secrets they may use, names and keys) and
//! `q8s-cli admin …` (secrets with who may use them, users and app Names, for admins).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;

use q8s_core::api::{SecretAccessChange, SecretInfo, SecretUsers};

use crate::output::{Format, emit, outln, print_json};
use crate::render;
use crate::session::{Connection, block_on};

/// `secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// List the secrets you may use in your apps: names and keys, never values (admins: every
    /// secret, with who may use it).
    #[command(after_help = "Example:\n  q8s-cli secret list")]
    List,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage secrets (admins only).
    #[command(subcommand)]
    Secret(AdminSecretCommand),
    /// Manage users (admins only).
    #[command(subcommand)]
    User(AdminUserCommand),
    /// Manage app Names (admins only).
    #[command(subcommand)]
    App(AdminAppCommand),
}

/// `admin app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminAppCommand {
    /// Give an app Name to another user: from then on only they import versions under it
    /// (the versions already imported stay with whoever imported them).
    #[command(after_help = "Example:\n  q8s-cli admin app transfer ai.h2o.q8s.hello alice")]
    Transfer {
        /// The App.Name.
        name: String,
        /// The username it goes to.
        user: String,
    },
}

/// Who may use a secret: the flags of `admin secret set` and `admin secret access`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Who may use it")]
pub struct AccessArgs {
    /// Only these users may use it (besides the admins).
    #[arg(long, value_name = "USER,…", value_delimiter = ',', group = "who")]
    users: Option<Vec<String>>,
    /// Every signed-in user may use it.
    #[arg(long, group = "who")]
    all_users: bool,
    /// Only admins may use it (what a new secret starts as).
    #[arg(long, group = "who")]
    admins_only: bool,
    /// Only apps with these Names may get it, whoever launches them.
    #[arg(long, value_name = "APP,…", value_delimiter = ',', group = "which")]
    apps: Option<Vec<String>>,
    /// Any app may get it.
    #[arg(long, group = "which")]
    any_app: bool,
}

impl AccessArgs {
    /// The rule change the flags ask for (empty without flags).
    fn change(&self) -> SecretAccessChange {
        let users = match (&self.users, self.all_users, self.admins_only) {
            (Some(users), _, _) => Some(SecretUsers::Only(users.clone())),
            (None, true, _) => Some(SecretUsers::AllUsers),
            (None, false, true) => Some(SecretUsers::ADMINS_ONLY),
            (None, false, false) => None,
        };
        let apps = match (&self.apps, self.any_app) {
            (Some(apps), _) => Some(Some(apps.clone())),
            (None, true) => Some(None),
            (None, false) => None,
        };
        SecretAccessChange { users, apps }
    }
}

/// `admin secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminSecretCommand {
    /// Create or replace a secret with exactly these keys; optionally say who may use it.
    #[command(
        after_help = "A new secret is for admins only until you allow users with --users or --all-users; replacing a secret keeps who may use it unless you say otherwise.\nValues on the command line end up in your shell history; --from-file reads a value from a file.\n\nExamples:\n  q8s-cli admin secret set hello-secrets greeting='Hi there' --all-users\n  q8s-cli admin secret set s3 access_key=AKIA… --from-file secret_key=./s3-secret.txt --users alice,bob --apps ai.h2o.q8s.reports"
    )]
    Set {
        /// The secret's name.
        name: String,
        /// KEY=VALUE pairs.
        #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
        pairs: Vec<(String, String)>,
        /// KEY=PATH: the value is the content of the file at PATH.
        #[arg(long, value_name = "KEY=PATH", value_parser = parse_pair)]
        from_file: Vec<(String, String)>,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Change who may use a secret (its values stay): users, and optionally app Names.
    #[command(
        after_help = "Flags left out keep that part of the rule.\n\nExamples:\n  q8s-cli admin secret access hello-secrets --all-users\n  q8s-cli admin secret access s3 --users alice --apps ai.h2o.q8s.reports\n  q8s-cli admin secret access s3 --admins-only --any-app"
    )]
    Access {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Delete a secret.
    #[command(after_help = "Example:\n  q8s-cli admin secret delete hello-secrets")]
    Delete {
        /// The secret's name.
        name: String,
    },
}

/// `admin user` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminUserCommand {
    /// Create a user; prints the generated password once.
    #[command(
        after_help = "Examples:\n  q8s-cli admin user add alice\n  q8s-cli admin user add bob --admin"
    )]
    Add {
        /// The username: lowercase letters, digits, `.`, `_`, `-`.
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
    },
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// Runs `secret list`.
pub fn run_secret(
    command: SecretCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let SecretCommand::List = command;
    let client = connection.client()?;
    let secrets = block_on(client.secrets())??;
    if format == Format::Json {
        print_json(&secrets)?;
    } else {
        emit(&render::secret_table(&secrets));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an `admin` subcommand.
pub fn run_admin(
    command: AdminCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let json = format == Format::Json;
    match command {
        AdminCommand::Secret(AdminSecretCommand::Set {
            name,
            pairs,
            from_file,
            access,
            ..
        }) => {
            let data = secret_data(pairs, from_file)?;
            let client = connection.client()?;
            let secret = block_on(client.set_secret(&name, &data, &access.change()))??;
            print_secret(&secret, json)?;
        }
        AdminCommand::Secret(AdminSecretCommand::Access { name, access, .. }) => {
            let change = access.change();
            if change.is_empty() {
                bail!(
                    "say who may use it: --users USER,…, --all-users or --admins-only, and/or --apps APP,… or --any-app"
                );
            }
            let client = connection.client()?;
            let secret = block_on(client.set_secret_access(&name, &change))??;
            print_secret(&secret, json)?;
        }
        AdminCommand::Secret(AdminSecretCommand::Delete { name, .. }) => {
            let client = connection.client()?;
            block_on(client.delete_secret(&name))??;
            if json {
                print_json(&json!({"name": name, "deleted": true}))?;
            } else {
                outln!("Deleted secret {name}");
            }
        }
        AdminCommand::User(AdminUserCommand::Add { name, admin, .. }) => {
            let client = connection.client()?;
            let created = block_on(client.create_user(&name, None, admin))??;
            if json {
                print_json(&created)?;
            } else {
                let mut rows = vec![
                    ("Username", created.user.username.clone()),
                    ("Admin", created.user.admin.to_string()),
                ];
                if let Some(password) = &created.password {
                    rows.push(("Password", password.clone()));
                }
                emit(&render::key_values(&rows));
                if created.password.is_some() {
                    eprintln!(
                        "The password is shown once: give it to {name}, who signs in at {}/login.",
                        client.url()
                    );
                }
            }
        }
        AdminCommand::App(AdminAppCommand::Transfer { name, user, .. }) => {
            let client = connection.client()?;
            let transferred = block_on(client.transfer_app_name(&name, &user))??;
            if json {
                print_json(&transferred)?;
            } else {
                outln!(
                    "App name {} now belongs to {}",
                    transferred.name,
                    transferred.owner
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A secret as `admin secret set` and `access` print it.
fn print_secret(secret: &SecretInfo, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(secret)?;
    } else {
        emit(&render::secret_details(secret));
    }
    Ok(())
}

/// The secret's keys and values; a key given twice is a mistake worth stopping for.
fn secret_data(
    pairs: Vec<(String, String)>,
    from_file: Vec<(String, String)>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut data = BTreeMap::new();
    let files = from_file.into_iter().map(|(key, path)| {
        let path = PathBuf::from(path);
        std::fs::read(&path)
            .with_context(|| format!("cannot read {}", path.display()))
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .with_context(|| format!("{} is not UTF-8 text", path.display()))
            })
            .map(|value| (key, value))
    });
    for pair in pairs.into_iter().map(Ok).chain(files) {
        let (key, value) = pair?;
        if data.insert(key.clone(), value).is_some() {
            bail!("key `{key}` is given twice");
        }
    }
    if data.is_empty() {
        bail!("give at least one KEY=VALUE (or --from-file KEY=PATH)");
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals() {
        assert_eq!(parse_pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_pair("=x").is_err() && parse_pair("novalue").is_err());
    }

    #[test]
    fn access_flags_make_a_rule_change() {
        let none = AccessArgs::default();
        assert!(none.change().is_empty());
        let args = AccessArgs {
            users: Some(vec!["alice".into(), "bob".into()]),
            any_app: true,
            ..AccessArgs::default()
        };
        let change = args.change();
        assert_eq!(
            change.users,
            Some(SecretUsers::Only(vec!["alice".into(), "bob".into()]))
        );
        assert_eq!(change.apps, Some(None));
        let args = AccessArgs {
            admins_only: true,
            apps: Some(vec!["a".into()]),
            ..AccessArgs::default()
        };
        assert_eq!(args.change().users, Some(SecretUsers::ADMINS_ONLY));
        assert_eq!(args.change().apps, Some(Some(vec!["a".into()])));
    }

    #[test]
    fn secret_data_reads_files_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v");
        std::fs::write(&file, "from file\n").unwrap();
        let data = secret_data(
            vec![("a".into(), "1".into())],
            vec![("b".into(), file.display().to_string())],
        )
        .unwrap();
        assert_eq!(data["b"], "from file\n");
        assert!(
            secret_data(
                vec![("a".into(), "1".into())],
                vec![("a".into(), file.display().to_string())]
            )
            .is_err()
        );
        assert!(secret_data(Vec::new(), Vec::new()).is_err());
    }
}
