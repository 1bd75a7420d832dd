//! The walk that applies the selection rules to a [`Tree`].

use std::io;

use super::pattern::PatternList;
use super::{
    APPIGNORE, Decision, EntryKind, GITIGNORE, LinkProblem, Q8SIGNORE, SelectedFile, Selection,
    Tree, TreeEntry, VIRTUALENV_MARKER, name_problem,
};
use crate::diagnostic::Diagnostic;

/// The rule text of a virtualenv folder.
const VIRTUALENV_RULE: &str = "virtualenv (pyvenv.cfg)";
/// The rule text when no rule matched.
const NO_RULE: &str = "included";

/// What the ignore files say about one path.
struct Ruling {
    excluded: bool,
    /// `.gitignore:3: *.log`.
    rule: String,
}

/// One selection run: the ignore files in force and what was found.
pub(crate) struct Walker<'t> {
    tree: &'t dyn Tree,
    /// The root ignore files, strongest first: `.q8signore`, then `.appignore`.
    root_ignores: Vec<PatternList>,
    /// The `.gitignore` files of the folders being walked, outermost first.
    gitignores: Vec<PatternList>,
    selection: Selection,
    /// Virtualenv folders the ignore files did not already leave out.
    virtualenvs: Vec<String>,
}

impl<'t> Walker<'t> {
    pub(crate) fn new(tree: &'t dyn Tree) -> Self {
        Walker {
            tree,
            root_ignores: Vec::new(),
            gitignores: Vec::new(),
            selection: Selection::default(),
            virtualenvs: Vec::new(),
        }
    }

    pub(crate) fn run(mut self) -> io::Result<Selection> {
        let root = self.list("")?;
        for name in [Q8SIGNORE, APPIGNORE] {
            if holds_file(&root, name) {
                let bytes = self.tree.read(name)?;
                self.root_ignores
                    .push(PatternList::parse(name.to_string(), "", &bytes));
            }
        }
        self.walk("", root)?;
        self.selection
            .files
            .sort_unstable_by(|a, b| a.path.cmp(&b.path));
        if let Some(warning) = virtualenv_warning(&self.virtualenvs) {
            self.selection.diagnostics.push(warning);
        }
        Ok(self.selection)
    }

    /// The entries of `dir`, sorted by name, after checking that the tree
    /// lists only plain names.
    fn list(&self, dir: &str) -> io::Result<Vec<TreeEntry>> {
        let mut entries = self.tree.list(dir)?;
        if let Some(bad) = entries
            .iter()
            .find(|e| e.name.is_empty() || e.name == "." || e.name == ".." || e.name.contains('/'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("folder {dir:?} lists an impossible name {:?}", bad.name),
            ));
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("folder {dir:?} lists {:?} twice", pair[0].name),
            ));
        }
        Ok(entries)
    }

    /// Visits the entries of the folder at `prefix` (`""` or `a/b/`).
    fn walk(&mut self, prefix: &str, entries: Vec<TreeEntry>) -> io::Result<()> {
        let mut pushed = false;
        // Like git, a folder's `.gitignore` applies even when it leaves
        // itself out.
        if holds_file(&entries, GITIGNORE) {
            let source = format!("{prefix}{GITIGNORE}");
            let bytes = self.tree.read(&source)?;
            let list = PatternList::parse(source, prefix, &bytes);
            if !list.is_empty() {
                self.gitignores.push(list);
                pushed = true;
            }
        }
        for entry in entries {
            self.visit(prefix, entry)?;
        }
        if pushed {
            self.gitignores.pop();
        }
        Ok(())
    }

    fn visit(&mut self, prefix: &str, entry: TreeEntry) -> io::Result<()> {
        let TreeEntry { name, kind } = entry;
        let at_root = prefix.is_empty();
        let path = format!("{prefix}{name}");
        // How `explain` shows it: folders end with `/`.
        let shown = if kind == EntryKind::Dir {
            format!("{path}/")
        } else {
            path.clone()
        };

        if let Some(rule) = default_rule(&name, &kind, at_root) {
            self.decide(shown, false, format!("default: {rule}"));
            return Ok(());
        }
        // Links and names that cannot be stored may well be folders: let
        // both `name` and `name/` patterns leave them out.
        let dir_like = !matches!(kind, EntryKind::File { .. } | EntryKind::Special { .. });
        let (excluded, rule) = match self.ruling(&path, &name, dir_like) {
            Some(Ruling { excluded, rule }) => (excluded, rule),
            None => (false, NO_RULE.to_string()),
        };
        if excluded {
            // The defaults come first, so a virtualenv is named as such even
            // when an ignore file also leaves it out.
            let rule = if kind == EntryKind::Dir
                && self.tree.is_file(&format!("{path}/{VIRTUALENV_MARKER}"))
            {
                VIRTUALENV_RULE.to_string()
            } else {
                rule
            };
            self.decide(shown, false, rule);
            return Ok(());
        }
        if let Some(reason) = name_problem(&name, at_root) {
            self.bad_name(shown, reason);
            return Ok(());
        }
        match kind {
            EntryKind::Dir => self.enter(shown, rule)?,
            EntryKind::File { executable } => {
                self.selection.files.push(SelectedFile {
                    path: path.clone(),
                    executable,
                });
                self.decide(path, true, rule);
            }
            EntryKind::BadLink { target, problem } => self.bad_link(path, &target, problem),
            EntryKind::Special { what } => {
                let message = format!("`{path}` is {what}, not a regular file, and is left out");
                let help = format!(
                    "add `{}` to {Q8SIGNORE} to silence this warning",
                    escape_pattern(&path)
                );
                self.selection.diagnostics.push(
                    Diagnostic::warning("special-file-skipped", &path, message).with_help(help),
                );
                self.decide(path, false, format!("not a regular file ({what})"));
            }
            EntryKind::BadName { reason } => self.bad_name(path, &reason),
        }
        Ok(())
    }

    /// Walks into the included folder `dir` (ending with `/`), unless it is
    /// a virtualenv.
    fn enter(&mut self, dir: String, rule: String) -> io::Result<()> {
        let entries = self.list(dir.trim_end_matches('/'))?;
        if holds_file(&entries, VIRTUALENV_MARKER) {
            self.virtualenvs.push(dir.clone());
            self.decide(dir, false, VIRTUALENV_RULE.to_string());
            return Ok(());
        }
        self.decide(dir.clone(), true, rule);
        self.walk(&dir, entries)
    }

    /// What `.q8signore`, then `.appignore`, then the `.gitignore` files
    /// from the deepest up, say about `path`: the first that matches
    /// decides.
    fn ruling(&self, path: &str, name: &str, is_dir: bool) -> Option<Ruling> {
        let mut lists = self.root_ignores.iter().chain(self.gitignores.iter().rev());
        lists.find_map(|list| {
            list.last_match(path, name, is_dir).map(|pattern| Ruling {
                excluded: !pattern.negated,
                rule: format!("{}:{}: {}", list.source, pattern.line, pattern.text),
            })
        })
    }

    fn decide(&mut self, path: String, included: bool, rule: String) {
        self.selection.explain.push(Decision {
            path,
            included,
            rule,
        });
    }

    fn bad_link(&mut self, path: String, target: &str, problem: LinkProblem) {
        let message = format!(
            "`{path}` is a symbolic link to `{target}`, which {}",
            problem.describe()
        );
        let fix = match problem {
            LinkProblem::Outside => "copy what it points to into the app folder",
            LinkProblem::Broken => "fix or remove the link",
            LinkProblem::Loop => "remove the link",
        };
        let help = format!(
            "{fix}, or leave the link out by adding `{}` to {Q8SIGNORE}",
            escape_pattern(&path)
        );
        self.selection
            .diagnostics
            .push(Diagnostic::error(problem.code(), &path, message).with_help(help));
        let rule = format!("symbolic link that {} (-> {target})", problem.describe());
        self.decide(path, false, rule);
    }

    fn bad_name(&mut self, path: String, reason: &str) {
        let message = format!("the name of `{path}` {reason}; a bundle cannot hold it");
        let help = format!(
            "rename it, or leave it out by adding `{}` to {Q8SIGNORE}",
            escape_pattern(path.trim_end_matches('/'))
        );
        self.selection
            .diagnostics
            .push(Diagnostic::error("invalid-file-name", &path, message).with_help(help));
        self.decide(path, false, format!("file name {reason}"));
    }
}

/// True when `entries` hold a file called `name`.
fn holds_file(entries: &[TreeEntry], name: &str) -> bool {
    entries
        .iter()
        .any(|e| e.name == name && matches!(e.kind, EntryKind::File { .. }))
}

/// The always-excluded entry `name` (in the root when `at_root`) falls
/// under, as it is shown in `explain`.
fn default_rule(name: &str, kind: &EntryKind, at_root: bool) -> Option<&'static str> {
    let folder_like = !matches!(kind, EntryKind::File { .. } | EntryKind::Special { .. });
    let file_like = *kind != EntryKind::Dir;
    match name {
        ".git" if folder_like => Some(".git/"),
        ".hg" if folder_like => Some(".hg/"),
        ".svn" if folder_like => Some(".svn/"),
        "__pycache__" if folder_like => Some("__pycache__/"),
        // The file that links a git worktree or submodule to its repository.
        ".git" => Some(".git"),
        ".DS_Store" => Some(".DS_Store"),
        _ if file_like && name.ends_with(".pyc") => Some("*.pyc"),
        _ if file_like && at_root && name.ends_with(".qz") => Some("/*.qz"),
        _ => None,
    }
}

/// An anchored `.q8signore` line matching exactly `path`.
fn escape_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    if out.ends_with(' ') {
        out.insert(out.len() - 1, '\\');
    }
    out
}

/// One warning naming every virtualenv that was left out although no
/// ignore file mentioned it.
fn virtualenv_warning(folders: &[String]) -> Option<Diagnostic> {
    let first = folders.first()?;
    let listed = folders
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if folders.len() == 1 {
        format!("left out the virtualenv {listed}")
    } else {
        format!("left out {} virtualenvs: {listed}", folders.len())
    };
    Some(
        Diagnostic::warning("virtualenv-skipped", first, message).with_help(format!(
            "an app's packages come from requirements.txt; list the folder in {Q8SIGNORE} (e.g. `{}`) to silence this warning",
            escape_pattern(first)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_paths_into_anchored_patterns() {
        assert_eq!(escape_pattern("a/b.txt"), "/a/b.txt");
        assert_eq!(escape_pattern("we*rd?[x]\\"), "/we\\*rd\\?\\[x]\\\\");
        assert_eq!(escape_pattern("!x "), "/!x\\ ");
        assert_eq!(escape_pattern(".venv/"), "/.venv/");
    }
}
