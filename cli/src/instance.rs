//! `q8s-cli instance …`: list, inspect, follow the log of, share, suspend, resume and
//! terminate instances.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Subcommand;
use q8s_client::Client;
use q8s_core::api::{Instance, Visibility};
use serde_json::json;

use crate::ids::{self, Kind};
use crate::output::{Format, emit, outln, print_json};
use crate::render;
use crate::session::{Connection, block_on, parse_visibility};

/// `instance` subcommands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// List your instances; with -a also those shared with all users.
    #[command(
        after_help = "Examples:\n  q8s-cli instance list\n  q8s-cli instance list -a -o json"
    )]
    List {
        /// Also the instances other users share with everyone.
        #[arg(short, long)]
        all: bool,
    },
    /// Show one instance.
    #[command(after_help = "Example:\n  q8s-cli instance get 22222222-3333-4444-5555-666666666666")]
    Get {
        /// The instance's ID.
        id: String,
    },
    /// Print an instance's status: PENDING, STARTING, RUNNING, SUSPENDED, FAILED or TERMINATED.
    #[command(
        after_help = "Example:\n  q8s-cli instance status 22222222-3333-4444-5555-666666666666"
    )]
    Status {
        /// The instance's ID.
        id: String,
    },
    /// Print an instance's log; -f follows it until the instance stops (or Ctrl-C).
    #[command(
        after_help = "Examples:\n  q8s-cli instance logs 22222222-3333-4444-5555-666666666666\n  q8s-cli instance logs 22222222-3333-4444-5555-666666666666 -f --tail 20"
    )]
    Logs {
        /// The instance's ID.
        id: String,
        /// Keep printing new lines until the instance stops.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Change who may open an instance.
    #[command(
        after_help = "Example:\n  q8s-cli instance update 22222222-3333-4444-5555-666666666666 -v ALL_USERS"
    )]
    Update {
        /// The instance's ID.
        id: String,
        /// PRIVATE or ALL_USERS.
        #[arg(short = 'v', long, value_parser = parse_visibility)]
        visibility: Visibility,
    },
    /// Stop an instance's processes and keep its data; `resume` starts it again.
    #[command(
        after_help = "Example:\n  q8s-cli instance suspend 22222222-3333-4444-5555-666666666666"
    )]
    Suspend {
        /// The instance's ID.
        id: String,
    },
    /// Start a suspended (or failed) instance again.
    #[command(
        after_help = "Example:\n  q8s-cli instance resume 22222222-3333-4444-5555-666666666666"
    )]
    Resume {
        /// The instance's ID.
        id: String,
    },
    /// Stop an instance for good and remove its data (also `instance delete`).
    #[command(
        alias = "delete",
        after_help = "Example:\n  q8s-cli instance terminate 22222222-3333-4444-5555-666666666666"
    )]
    Terminate {
        /// The instance's ID.
        id: String,
    },
}

/// Runs an `instance` subcommand.
pub fn run(
    command: InstanceCommand,
    format: Format,
    connection: &Connection,
) -> anyhow::Result<ExitCode> {
    let client = connection.client()?;
    let json = format == Format::Json;
    block_on(async move {
        let mut command = command;
        if let Some(id) = command.id_mut() {
            *id = ids::instance(&client, id).await?;
        }
        let shown = match command {
            InstanceCommand::List { all, .. } => {
                let instances = client.instances(all).await?;
                if json {
                    print_json(&instances)?;
                } else {
                    emit(&render::instance_table(&instances, crate::app::now()));
                }
                return Ok(ExitCode::SUCCESS);
            }
            InstanceCommand::Status { id, .. } => {
                let i = client.instance(&id).await?;
                if json {
                    print_json(
                        &json!({"id": i.id, "status": i.status, "status_message": i.status_message}),
                    )?;
                } else {
                    outln!("{}", i.status);
                    if let Some(message) = &i.status_message {
                        eprintln!("{message}");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            InstanceCommand::Logs {
                id, follow, tail, ..
            } => return print_logs(&client, &id, tail, follow, json).await,
            InstanceCommand::Get { id, .. } => client.instance(&id).await?,
            InstanceCommand::Update { id, visibility, .. } => {
                client.update_instance(&id, visibility).await?
            }
            InstanceCommand::Suspend { id, .. } => client.suspend(&id).await?,
            InstanceCommand::Resume { id, .. } => client.resume(&id).await?,
            InstanceCommand::Terminate { id, .. } => {
                client.terminate(&id).await?;
                client.instance(&id).await?
            }
        };
        print_instance(&shown, json)?;
        Ok(ExitCode::SUCCESS)
    })?
    .map_err(|e| ids::not_found_tip(Kind::Instance, e))
}

impl InstanceCommand {
    /// The instance id the command takes, if it takes one.
    fn id_mut(&mut self) -> Option<&mut String> {
        match self {
            InstanceCommand::List { .. } => None,
            InstanceCommand::Get { id, .. }
            | InstanceCommand::Status { id, .. }
            | InstanceCommand::Logs { id, .. }
            | InstanceCommand::Update { id, .. }
            | InstanceCommand::Suspend { id, .. }
            | InstanceCommand::Resume { id, .. }
            | InstanceCommand::Terminate { id, .. } => Some(id),
        }
    }
}

fn print_instance(instance: &Instance, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(instance)
    } else {
        emit(&render::instance_block(instance));
        Ok(())
    }
}

/// Copies the log to stdout as it arrives. A closed stdout (`| head`) ends it quietly.
async fn print_logs(
    client: &Client,
    id: &str,
    tail: Option<usize>,
    follow: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut stream = client.logs(id, tail, follow).await?;
    let mut stdout = std::io::stdout().lock();
    let copied: anyhow::Result<()> = async {
        if json {
            while let Some(line) = stream.next_line().await? {
                writeln!(stdout, "{}", serde_json::Value::String(line))?;
                stdout.flush()?;
            }
        } else {
            while let Some(chunk) = stream.next_chunk().await? {
                stdout.write_all(&chunk)?;
                stdout.flush()?;
            }
        }
        Ok(())
    }
    .await;
    match copied {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
