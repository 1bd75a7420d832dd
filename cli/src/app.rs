//! `q8s-cli app …`: list, show, launch, change and delete imported apps.

use std::process::ExitCode;

use clap::Subcommand;
use q8s_core::api::{AppVersions, Visibility};
use serde_json::json;

use crate::ids::{self, Kind};
use crate::output::{Format, emit, outln, print_json};
use crate::render;
use crate::session::{Connection, block_on, parse_visibility};

/// `app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// List your apps, the latest version of each; with -a every app you can launch.
    #[command(
        after_help = "Examples:\n  q8s-cli app list\n  q8s-cli app list -a -o json\n  q8s-cli app list --name ai.h2o.q8s.hello --all-versions\n  q8s-cli app list -a --limit 20"
    )]
    List {
        /// Every app you can launch: yours and those shared with all users.
        #[arg(short, long)]
        all: bool,
        /// Only the app with this Name (e.g. ai.h2o.q8s.hello).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Every version, not only the latest of each Name.
        #[arg(long)]
        all_versions: bool,
        /// Only the first N apps (by Name); without it, every app.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
    },
    /// Show one app.
    #[command(after_help = "Example:\n  q8s-cli app get 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01")]
    Get {
        /// The app's ID.
        id: String,
    },
    /// Launch a new instance of an app; prints its ID and URL.
    #[command(
        after_help = "Examples:\n  q8s-cli app run 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01\n  q8s-cli app run 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01 -v ALL_USERS"
    )]
    Run {
        /// The app's ID.
        id: String,
        /// Who may open the instance: PRIVATE or ALL_USERS.
        #[arg(short = 'v', long, value_parser = parse_visibility, default_value = "PRIVATE")]
        visibility: Visibility,
    },
    /// Change who may see and launch an app (the only thing that can change).
    #[command(
        after_help = "Example:\n  q8s-cli app update 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01 -v ALL_USERS"
    )]
    Update {
        /// The app's ID.
        id: String,
        /// PRIVATE or ALL_USERS.
        #[arg(short = 'v', long, value_parser = parse_visibility)]
        visibility: Visibility,
    },
    /// Delete an app version (refused while it has instances that are not terminated).
    #[command(after_help = "Example:\n  q8s-cli app delete 0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01")]
    Delete {
        /// The app's ID.
        id: String,
    },
}

/// Runs an `app` subcommand.
pub fn run(
    command: AppCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let client = connection.client()?;
    let json = format == Format::Json;
    block_on(async move {
        let mut command = command;
        if let Some(id) = command.id_mut() {
            *id = ids::app(&client, id).await?;
        }
        match command {
            AppCommand::List {
                all,
                name,
                all_versions,
                limit,
            } => {
                let versions = if all_versions {
                    AppVersions::All
                } else {
                    AppVersions::Latest
                };
                let max = limit.map(|n| n as usize);
                let apps = client
                    .apps_first(all, name.as_deref(), versions, max)
                    .await?;
                if json {
                    print_json(&apps.items)?;
                } else {
                    emit(&render::app_table(&apps.items, now()));
                    emit(&render::more_footer(apps.more, "apps"));
                }
            }
            AppCommand::Get { id, .. } => {
                let app = client.app(&id).await?;
                if json {
                    print_json(&app)?;
                } else {
                    emit(&render::app_block(&app));
                }
            }
            AppCommand::Run { id, visibility, .. } => {
                let instance = client.run(&id, visibility).await?;
                if json {
                    print_json(&instance)?;
                } else {
                    emit(&render::launched_block(&instance));
                }
            }
            AppCommand::Update { id, visibility, .. } => {
                let app = client.update_app(&id, visibility).await?;
                if json {
                    print_json(&app)?;
                } else {
                    emit(&render::app_block(&app));
                }
            }
            AppCommand::Delete { id, .. } => {
                client.delete_app(&id).await?;
                if json {
                    print_json(&json!({"id": id, "deleted": true}))?;
                } else {
                    outln!("Deleted app {id}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
    .map_err(|e| ids::not_found_tip(Kind::App, e))
}

impl AppCommand {
    /// The app id the command takes, if it takes one.
    fn id_mut(&mut self) -> Option<&mut String> {
        match self {
            AppCommand::List { .. } => None,
            AppCommand::Get { id, .. }
            | AppCommand::Run { id, .. }
            | AppCommand::Update { id, .. }
            | AppCommand::Delete { id, .. } => Some(id),
        }
    }
}

/// The current time, for ages.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
