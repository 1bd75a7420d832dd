//! `q8s-cli instance …`: list, inspect, follow the log of, share, suspend, resume and
//! terminate instances.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use indicatif::ProgressBar;
use q8s_client::{Client, LOG_TAIL};
use q8s_core::api::{ErrorCode, Instance, InstanceStatus, StatusFilter, Visibility};
use serde_json::json;

use crate::ids::{self, Kind};
use crate::output::{Advised, Format, emit, outln, print_json};
use crate::render;
use crate::session::{Connection, block_on, parse_status_filter, parse_visibility};

/// `instance` subcommands.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// List your live instances, newest first; with -a also those shared with all users.
    #[command(
        after_help = "Terminated instances are left out (a last line counts them) unless --status names them.\n\nExamples:\n  q8s-cli instance list\n  q8s-cli instance list --status running,failed\n  q8s-cli instance list --status all -a -o json\n  q8s-cli instance list -a --limit 10"
    )]
    List {
        /// Also the instances other users share with everyone.
        #[arg(short, long)]
        all: bool,
        /// live (every status but TERMINATED), all, or statuses separated by commas.
        #[arg(long, value_name = "STATUS", default_value = "live", value_parser = parse_status_filter)]
        status: StatusFilter,
        /// Only the N newest instances; without it, every instance.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
    },
    /// Show one instance.
    #[command(after_help = "Example:\n  q8s-cli instance get 22222222-3333-4444-5555-666666666666")]
    Get {
        /// The instance's ID.
        id: String,
    },
    /// Print an instance's status: PENDING, STARTING, RUNNING, SUSPENDED, FAILED or TERMINATED.
    #[command(
        after_help = "With --wait it returns once the instance runs (exit 0) or has stopped for another reason\n(exit 1, with the reason and the end of its log).\n\nExamples:\n  q8s-cli instance status 22222222-3333-4444-5555-666666666666\n  q8s-cli instance status 22222222-3333-4444-5555-666666666666 --wait --timeout 120"
    )]
    Status {
        /// The instance's ID.
        id: String,
        /// Wait until the instance is RUNNING; fail if it ends FAILED, SUSPENDED or TERMINATED.
        #[arg(short, long)]
        wait: bool,
        /// Seconds to wait (with --wait).
        #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "wait")]
        timeout: u64,
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
            InstanceCommand::List {
                all, status, limit, ..
            } => {
                let max = limit.map(|n| n as usize);
                let list = client.instances_first(all, &status, max).await?;
                if json {
                    print_json(&list.instances)?;
                } else {
                    emit(&render::instance_table(&list.instances, crate::app::now()));
                    emit(&render::more_footer(list.more, "instances"));
                    emit(&render::terminated_footer(list.terminated_omitted));
                }
                return Ok(ExitCode::SUCCESS);
            }
            InstanceCommand::Status {
                id, wait, timeout, ..
            } => {
                if wait {
                    return wait_running(&client, &id, Duration::from_secs(timeout), format).await;
                }
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

/// `instance status --wait`: polls until the instance settles, with a spinner on a terminal.
/// Anything but RUNNING is a failure that shows the reason and, for FAILED, the log's end.
async fn wait_running(
    client: &Client,
    id: &str,
    timeout: Duration,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let terminal = format == Format::Text && std::io::stderr().is_terminal();
    let spinner = if terminal {
        let spinner = ProgressBar::new_spinner();
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner
    } else {
        ProgressBar::hidden()
    };
    let waited = client
        .wait_for_instance(id, timeout, |i| {
            spinner.set_message(match &i.status_message {
                Some(m) => format!("{}: {m}", i.status),
                None => i.status.to_string(),
            });
            i.status.is_settled()
        })
        .await;
    spinner.finish_and_clear();
    let i = waited?;
    if format == Format::Json {
        // One JSON document on stdout: the status, or else the error.
        if i.status == InstanceStatus::Running {
            print_json(
                &json!({"id": i.id, "status": i.status, "status_message": i.status_message}),
            )?;
        }
    } else {
        outln!("{}", i.status);
    }
    if i.status == InstanceStatus::Running {
        return Ok(ExitCode::SUCCESS);
    }
    if i.status == InstanceStatus::Failed && format == Format::Text {
        eprintln!("last lines of the log of instance {}:", i.id);
        match client.log_tail(&i.id, LOG_TAIL).await {
            Ok(lines) => lines.iter().for_each(|line| eprintln!("  {line}")),
            Err(e) => eprintln!("  (the log cannot be read: {e})"),
        }
    }
    let hint = match i.status {
        InstanceStatus::Suspended => format!("start it with `q8s-cli instance resume {}`", i.id),
        InstanceStatus::Terminated => "launch a new instance with `q8s-cli app run`".to_owned(),
        _ => format!("see `q8s-cli instance logs {}`", i.id),
    };
    let reason = i
        .status_message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    // The code deploy's failure carries too.
    Err(Advised {
        fact: format!("instance {} is {}{reason}", i.id, i.status),
        code: ErrorCode::InstanceFailed.as_str().to_owned(),
        hint,
        api: None,
    }
    .into())
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
