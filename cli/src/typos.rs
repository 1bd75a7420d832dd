//! "Did you mean …": a tip for a command name typed wrong, or typed as another tool names it
//! (`q8s-cli deploy`, `q8s-cli login`), and for `bundle WORD` where WORD is no folder but
//! close to a subcommand of `bundle` (which would otherwise be read as the app folder).
//! The names come from the clap definition itself.

use std::path::Path;

use clap::Command;

/// Names of commands elsewhere (other tools, older habits) and the q8s-cli command for them.
const OTHER_NAMES: &[(&str, &str)] = &[
    ("deploy", "bundle deploy"),
    ("import", "bundle import"),
    ("validate", "bundle validate"),
    ("inspect", "bundle inspect"),
    ("login", "config setup"),
    ("signin", "config setup"),
    ("setup", "config setup"),
    ("run", "app run"),
    ("logs", "instance logs"),
];

/// Options of `q8s-cli` that take a value (the value is not a command name).
const OPTIONS_WITH_VALUES: &[&str] = &["--url", "--token", "--profile", "-o", "--output", "-v"];

/// How alike two names must be (Jaro similarity, as clap's own suggestions use).
const LIKENESS: f64 = 0.8;

/// The tip for `args` (without the program name), when the first word is not a command but
/// means one, or `bundle`'s first word is neither a folder nor a file but close to one of its
/// subcommands: `did you mean `q8s-cli bundle deploy`?`.
pub fn tip(cli: &Command, args: &[String]) -> Option<String> {
    let words = positionals(args);
    let first = words.first()?;
    let known = |command: &Command, word: &str| {
        command
            .get_subcommands()
            .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
    };
    if !known(cli, first) {
        let meant = OTHER_NAMES
            .iter()
            .find(|(name, _)| alike(name, first))
            .map(|(_, command)| (*command).to_owned())?;
        return Some(format!(
            "`{first}` is not a q8s-cli command; did you mean `q8s-cli {meant}`?"
        ));
    }
    if *first != "bundle" {
        return None;
    }
    let bundle = cli.find_subcommand("bundle")?;
    let word = words.get(1)?;
    if known(bundle, word) || Path::new(word).exists() {
        return None;
    }
    let meant = bundle
        .get_subcommands()
        .map(Command::get_name)
        .find(|name| *name != "help" && alike(name, word))?;
    Some(format!(
        "`{word}` is neither a folder nor a file, nor a `bundle` command; did you mean \
         `q8s-cli bundle {meant}`?"
    ))
}

/// The words of `args` that are neither options nor their values.
fn positionals(args: &[String]) -> Vec<&str> {
    let mut words = Vec::new();
    let mut skip = false;
    for arg in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') {
            skip = OPTIONS_WITH_VALUES.contains(&arg.as_str());
            continue;
        }
        words.push(arg.as_str());
    }
    words
}

fn alike(name: &str, word: &str) -> bool {
    strsim::jaro(name, &word.to_ascii_lowercase()) >= LIKENESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn cli() -> Command {
        Command::new("q8s-cli")
            .subcommand(
                Command::new("bundle")
                    .subcommand(Command::new("deploy"))
                    .subcommand(Command::new("validate")),
            )
            .subcommand(Command::new("config").subcommand(Command::new("setup")))
    }

    #[test]
    fn tips_name_the_command_meant() {
        let tip = |text: &str| tip(&cli(), &args(text));
        assert_eq!(
            tip("--url http://x bundle deplyo").as_deref(),
            Some(
                "`deplyo` is neither a folder nor a file, nor a `bundle` command; did you mean \
                 `q8s-cli bundle deploy`?"
            )
        );
        assert!(tip("bundle valdate .").unwrap().contains("bundle validate"));
        assert!(tip("logn").unwrap().contains("`q8s-cli config setup`"));
        assert!(
            tip("-o json deploy")
                .unwrap()
                .contains("`q8s-cli bundle deploy`")
        );
        // Real commands, real folders and words like nothing get none.
        assert_eq!(tip("bundle deploy"), None);
        assert_eq!(tip("bundle ."), None);
        assert_eq!(tip("bundle my-app"), None);
        assert_eq!(tip("config setup"), None);
        assert_eq!(tip("frobnicate"), None);
    }
}
