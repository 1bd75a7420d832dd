//! `q8s-cli token …`: list your API tokens (names and times, never the secrets) and revoke
//! one by id or name.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use q8s_client::Client;
use q8s_core::api::Token;
use serde_json::json;

use crate::output::{Format, emit, outln, print_json};
use crate::render;
use crate::session::{Connection, block_on};

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List your API tokens: id, name, when created and last used (never the secrets).
    #[command(after_help = "Examples:\n  q8s-cli token list\n  q8s-cli token list -a -o json")]
    List {
        /// Every user's tokens (admins only).
        #[arg(short, long)]
        all: bool,
    },
    /// Revoke one of your tokens (admins: anyone's, by id): whoever holds it is signed out.
    #[command(
        after_help = "Examples:\n  q8s-cli token revoke 0b6c2b1e-0d5f-4a57-9d43-2f0e8a1c5b7d\n  q8s-cli token revoke ci\n\nA NAME must name exactly one of your tokens; several tokens may share a name, then\nrevoke by id. `q8s-cli config logout` revokes the token of a profile and forgets it."
    )]
    Revoke {
        /// The token's id, or its name.
        #[arg(value_name = "ID|NAME")]
        id_or_name: String,
    },
}

/// Runs a `token` subcommand.
pub fn run(
    command: TokenCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let json = format == Format::Json;
    let client = connection.client()?;
    match command {
        TokenCommand::List { all } => {
            let tokens = block_on(client.tokens(all))??;
            if json {
                print_json(&tokens)?;
            } else {
                emit(&render::token_table(
                    &tokens,
                    time::OffsetDateTime::now_utc(),
                ));
            }
        }
        TokenCommand::Revoke { id_or_name } => {
            let (id, listed) = block_on(revoke(&client, &id_or_name))??;
            let name = listed.as_ref().map(|t| t.name.as_str());
            if json {
                print_json(&json!({"id": id, "name": name, "revoked": true}))?;
            } else {
                match name {
                    Some(name) => outln!("Revoked token {id} ({name})"),
                    None => outln!("Revoked token {id}"),
                }
                if listed.is_some_and(|t| t.current) {
                    eprintln!(
                        "It was the token this command used: sign in again with `q8s-cli config setup`."
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Revokes the token `id_or_name` names: an id as is, a name when exactly one of the caller's
/// tokens has it. Returns the id and the token as listed (`None` for an id not among the
/// caller's own: an admin revoking another user's token).
async fn revoke(client: &Client, id_or_name: &str) -> anyhow::Result<(String, Option<Token>)> {
    let tokens = client.tokens(false).await?;
    if uuid_like(id_or_name) {
        let listed = tokens
            .into_iter()
            .find(|t| t.id.eq_ignore_ascii_case(id_or_name));
        client.revoke_token(id_or_name).await?;
        return Ok((id_or_name.to_owned(), listed));
    }
    let mut named: Vec<Token> = tokens
        .into_iter()
        .filter(|t| t.name == id_or_name)
        .collect();
    let token = match named.len() {
        0 => bail!("you have no token named `{id_or_name}` (not-found) — see `q8s-cli token list`"),
        1 => named.remove(0),
        n => {
            let ids: Vec<&str> = named.iter().map(|t| t.id.as_str()).collect();
            bail!(
                "{n} of your tokens are named `{id_or_name}`: revoke one by id ({})",
                ids.join(", ")
            )
        }
    };
    client.revoke_token(&token.id).await?;
    Ok((token.id.clone(), Some(token)))
}

/// Whether `text` has the form of a UUID (what the server's ids are).
fn uuid_like(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_from_names() {
        assert!(uuid_like("0b6c2b1e-0d5f-4a57-9d43-2f0e8a1c5b7d"));
        assert!(uuid_like("0B6C2B1E-0D5F-4A57-9D43-2F0E8A1C5B7D"));
        assert!(!uuid_like("ci"));
        assert!(!uuid_like("0b6c2b1e0d5f4a579d432f0e8a1c5b7d"));
        assert!(!uuid_like("q8s-cli (device) 0b6c2b1e-0d5f-4a57"));
    }
}
