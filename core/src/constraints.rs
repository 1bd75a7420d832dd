//! Known-good upper bounds for the packages of an app's environment.
//!
//! H2O AI Cloud ran apps on fixed images, so an app that pins an older `h2o-wave` and leaves
//! that release's own dependencies open worked there; uv picks the newest releases instead,
//! and some of them removed what the older `h2o-wave` releases call (Starlette 1.0 removed
//! `Router(on_startup=…)`). A [`Constraints`] set is a list of [`Rule`]s: when the environment
//! resolves a package to a version in a rule's range, the environment is installed again with
//! the rule's pins as uv constraints. The server applies them; `bundle validate` names the
//! rules a pinned `h2o-wave` meets, from the same table.
//!
//! The built-in rules are `core/constraints.toml`, versioned with q8s; an admin adds rules in
//! a file of the same format (`q8s-server --constraints FILE`).
//!
//! ```
//! use q8s_core::constraints::Constraints;
//!
//! let rules = Constraints::builtin();
//! let old = rules.for_version("h2o-wave", "0.26.3");
//! assert_eq!(old.len(), 1);
//! assert_eq!(old[0].pins, ["starlette<1"]);
//! assert!(rules.for_version("H2O_Wave", "1.8.16").is_empty());
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::requirements::{pep440, pep508};

/// The built-in rules, as shipped with this version of q8s.
pub const BUILTIN: &str = include_str!("../constraints.toml");

/// A set of constraint rules: the built-in ones, plus an admin's.
#[derive(Debug, Clone)]
pub struct Constraints {
    /// Where each group of rules came from, with its `version`, e.g. `built-in 2026.12.1`.
    pub sources: Vec<String>,
    /// Every rule, built-in ones first.
    pub rules: Vec<Rule>,
}

/// One rule: when a package resolves into a range, pin others.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The package and range the rule applies to; `None`: every environment.
    pub when: Option<Range>,
    /// uv constraint lines (`starlette<1`): they narrow versions, they never add a package.
    pub pins: Vec<String>,
    /// Why the rule exists, shown in the instance log when it applies.
    pub why: String,
}

/// A package name and a version range, e.g. `h2o-wave < 1.8.6`.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// The normalized name (PEP 503: lower case, runs of `-_.` as `-`).
    pub package: String,
    /// The version clauses, as written (`< 1.8.6`).
    pub versions: String,
    specifiers: Vec<pep508::Specifier>,
}

/// A constraints file that cannot be used, with what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConstraintsError {
    /// The file (or `built-in`).
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: String,
    #[serde(default)]
    rule: Vec<RuleText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    when: Option<String>,
    pins: Vec<String>,
    why: String,
}

impl Constraints {
    /// The rules shipped with q8s ([`BUILTIN`]).
    pub fn builtin() -> &'static Constraints {
        static BUILT_IN: OnceLock<Constraints> = OnceLock::new();
        BUILT_IN.get_or_init(|| {
            Constraints::parse(BUILTIN, "built-in").expect("the built-in constraints are valid")
        })
    }

    /// Parses a constraints file; `source` names it in errors and in [`Constraints::sources`].
    pub fn parse(text: &str, source: &str) -> Result<Constraints, ConstraintsError> {
        let error = |message: String| ConstraintsError {
            source_name: source.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| error(e.message().to_owned()))?;
        let mut rules = Vec::with_capacity(file.rule.len());
        for (n, rule) in file.rule.into_iter().enumerate() {
            let at = |message: String| error(format!("rule {}: {message}", n + 1));
            let when = match &rule.when {
                Some(text) => Some(Range::parse(text).map_err(at)?),
                None => None,
            };
            if rule.pins.is_empty() {
                return Err(at("`pins` is empty".to_owned()));
            }
            for pin in &rule.pins {
                Range::parse(pin).map_err(|e| at(format!("pin `{pin}`: {e}")))?;
            }
            if rule.why.trim().is_empty() {
                return Err(at(
                    "`why` is empty: say what breaks without the pins".to_owned()
                ));
            }
            rules.push(Rule {
                when,
                pins: rule.pins,
                why: rule.why,
            });
        }
        Ok(Constraints {
            sources: vec![format!("{source} {}", file.version)],
            rules,
        })
    }

    /// The built-in rules followed by those of an admin's file (`text`, named `source`), as
    /// every install applies them — the local runtime's and a pod's alike.
    pub fn with_admin(text: &str, source: &str) -> Result<Constraints, ConstraintsError> {
        let mut rules = Constraints::builtin().clone();
        rules.extend(Constraints::parse(text, source)?);
        Ok(rules)
    }

    /// Adds the rules of `other` after these.
    pub fn extend(&mut self, other: Constraints) {
        self.sources.extend(other.sources);
        self.rules.extend(other.rules);
    }

    /// The rules that apply to every environment.
    pub fn unconditional(&self) -> Vec<&Rule> {
        self.rules.iter().filter(|r| r.when.is_none()).collect()
    }

    /// The rules whose range holds `package` at `version` (an unparsable version matches
    /// none).
    pub fn for_version(&self, package: &str, version: &str) -> Vec<&Rule> {
        let Some(version) = pep440::parse(version, false) else {
            return Vec::new();
        };
        let package = normalize(package);
        self.rules
            .iter()
            .filter(|rule| {
                rule.when
                    .as_ref()
                    .is_some_and(|range| range.package == package && range.contains(&version))
            })
            .collect()
    }

    /// The rules that apply to an environment holding `installed` (`(name, version)` pairs),
    /// each once, in file order.
    pub fn for_installed<'a>(
        &self,
        installed: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<&Rule> {
        let mut found: Vec<&Rule> = Vec::new();
        for (name, version) in installed {
            for rule in self.for_version(name, version) {
                if !found.iter().any(|r| std::ptr::eq(*r, rule)) {
                    found.push(rule);
                }
            }
        }
        found.sort_by_key(|rule| self.rules.iter().position(|r| std::ptr::eq(r, *rule)));
        found
    }

    /// A canonical text of every rule, for cache keys: two sets with the same text install
    /// the same environments.
    pub fn fingerprint(&self) -> String {
        self.rules.iter().map(|rule| format!("{rule}\n")).collect()
    }
}

impl fmt::Display for Rule {
    /// `when h2o-wave <1.8.6: starlette<1` (or `always: …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.when {
            Some(range) => write!(f, "when {range}: ")?,
            None => write!(f, "always: ")?,
        }
        write!(f, "{}", self.pins.join(", "))
    }
}

impl Range {
    /// Parses `name specifiers` (`h2o-wave < 1.8.6`, `starlette<1`, `numpy`) as
    /// `requirements.txt` lines are read; no extras, URL or marker.
    pub fn parse(text: &str) -> Result<Range, String> {
        let text = text.trim();
        let parsed = pep508::parse(text).map_err(|e| format!("`{text}`: {}", e.message))?;
        if parsed.url.is_some() || text.contains(['[', ';', '@']) {
            return Err(format!(
                "`{text}`: only a name and versions, no extras, URL or marker"
            ));
        }
        Ok(Range {
            package: normalize(parsed.name),
            versions: text[parsed.name.len()..].trim().to_owned(),
            specifiers: parsed.specifiers,
        })
    }

    /// Whether `version` is in the range.
    fn contains(&self, version: &pep440::Version) -> bool {
        self.specifiers.iter().all(|s| s.allows(version))
    }

    /// The release the range ends before, when it is `< X` alone (`h2o-wave < 1.8.6`).
    pub fn below(&self) -> Option<&str> {
        match self.specifiers.as_slice() {
            [only] if only.op == "<" => Some(self.versions.trim_start_matches('<').trim()),
            _ => None,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.package, self.versions)
    }
}

/// A package name as PEP 503 compares them: lower case, runs of `-`, `_` and `.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rules_pin_starlette_for_wave_before_1_8_6() {
        let rules = Constraints::builtin();
        assert_eq!(rules.sources.len(), 1);
        assert!(rules.sources[0].starts_with("built-in "));
        for old in ["0.20.0", "0.26.3", "1.0.0", "1.5.1", "1.8.5"] {
            let found = rules.for_version("h2o-wave", old);
            assert_eq!(found.len(), 1, "{old}");
            assert!(found[0].pins.contains(&"starlette<1".to_owned()));
        }
        for new in ["1.8.6", "1.8.16", "2.0.0", "not a version"] {
            assert!(rules.for_version("h2o-wave", new).is_empty(), "{new}");
        }
        assert!(rules.for_version("h2o_wave", "0.26.3").len() == 1);
        assert!(rules.for_version("starlette", "0.26.3").is_empty());
        assert!(rules.unconditional().is_empty());
    }

    #[test]
    fn an_admin_file_adds_rules_after_the_builtin_ones() {
        let mut rules = Constraints::builtin().clone();
        let admin = Constraints::parse(
            r#"
version = "site-3"
[[rule]]
pins = ["numpy < 2"]
why = "our wheels are built against numpy 1"
[[rule]]
when = "H2O.Wave >= 1.8, < 1.9"
pins = ["uvicorn < 0.40", "httpx <0.29"]
why = "tested together"
"#,
            "/etc/q8s/constraints.toml",
        )
        .unwrap();
        rules.extend(admin);
        assert_eq!(rules.sources[1], "/etc/q8s/constraints.toml site-3");
        assert_eq!(rules.unconditional().len(), 1);
        let installed = [
            ("starlette", "1.10.0"),
            ("h2o-wave", "1.8.5"),
            ("numpy", "2.1"),
        ];
        let found = rules.for_installed(installed);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].pins, ["starlette<1"]);
        assert_eq!(found[1].pins, ["uvicorn < 0.40", "httpx <0.29"]);
        assert!(rules.fingerprint().contains("always: numpy < 2\n"));
        assert!(
            rules
                .fingerprint()
                .contains("when h2o-wave >= 1.8, < 1.9: uvicorn < 0.40, httpx <0.29\n"),
            "{}",
            rules.fingerprint()
        );
    }

    #[test]
    fn bad_files_say_what_and_where() {
        let cases = [
            ("version = 1", "invalid type"),
            ("[[rule]]\npins=[]\nwhy='x'", "missing field `version`"),
            (
                "version='1'\n[[rule]]\npins=[]\nwhy='x'",
                "rule 1: `pins` is empty",
            ),
            (
                "version='1'\n[[rule]]\nwhen='h2o-wave <<1'\npins=['a']\nwhy='x'",
                "rule 1: `h2o-wave <<1`",
            ),
            (
                "version='1'\n[[rule]]\npins=['>1']\nwhy='x'",
                "rule 1: pin `>1`: `>1`",
            ),
            (
                "version='1'\n[[rule]]\npins=['a']\nwhy=' '",
                "rule 1: `why` is empty",
            ),
            (
                "version='1'\n[[rule]]\npins=['a']\nwhy='x'\nbecause='y'",
                "unknown field `because`",
            ),
        ];
        for (text, expected) in cases {
            let err = Constraints::parse(text, "c.toml").unwrap_err();
            assert_eq!(err.source_name, "c.toml");
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn ranges_hold_the_versions_pep_440_says() {
        let holds = |range: &str, version: &str| {
            let v = pep440::parse(version, false).unwrap();
            Range::parse(&format!("p {range}")).unwrap().contains(&v)
        };
        let cases = [
            ("< 1.8.6", "1.8.5", true),
            ("< 1.8.6", "1.8.6", false),
            ("<=1.8.6", "1.8.6", true),
            ("> 1.0", "1.0.0", false),
            (">=1.0,<2", "1.9.9", true),
            ("==1.8.*", "1.8.16", true),
            ("==1.8.*", "1.9", false),
            ("!=1.8.*", "1.9", true),
            ("~=1.7.2", "1.7.9", true),
            ("~=1.7.2", "1.8.0", false),
            ("~=1.7", "1.9", true),
            ("~=1.7", "2.0", false),
            ("==1.0", "1.0.0", true),
            ("!=1.0", "1.0.0", false),
            ("", "42", true),
        ];
        for (range, version, expected) in cases {
            assert_eq!(holds(range, version), expected, "{version} in {range}");
        }
        assert_eq!(
            Range::parse("h2o-wave < 1.8.6").unwrap().below(),
            Some("1.8.6")
        );
        assert_eq!(Range::parse("h2o-wave >0, <1.8.6").unwrap().below(), None);
        assert!(Range::parse("numpy[extra] < 2").is_err());
        assert!(Range::parse("numpy < 2; python_version < '3.9'").is_err());
    }

    #[test]
    fn names_compare_as_pep_503_says() {
        assert_eq!(normalize("H2O_Wave"), "h2o-wave");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a-_.b"), "a-b");
    }
}
