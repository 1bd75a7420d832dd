//! The `[[Env]]` entries: environment variables filled from secrets.

use std::collections::HashMap;

use super::EnvVar;
use super::charset;
use super::check::{Checker, Field};
use super::codes;
use super::keys;
use super::node::Node;

/// Variables the platform sets in every instance.
pub const PLATFORM_ENV_NAMES: &[&str] = &[
    "H2O_WAVE_ADDRESS",
    "H2O_WAVE_APP_ADDRESS",
    "H2O_WAVE_BASE_URL",
    "PORT",
];

/// Secret names and keys: at most this many characters (a DNS subdomain).
const SECRET_MAX: usize = 253;

/// What a secret name may be, in words: the help of `invalid-secret-name`.
const SECRET_NAME_RULE: &str = "a secret name uses letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit (at most 253)";

/// What a secret key may be, in words: the help of `invalid-secret-key`.
const SECRET_KEY_RULE: &str = "a secret key uses letters, digits, `.`, `_` and `-` (at most 253)";

/// Whether `name` may be an `[[Env]].Secret`: secrets are created under this rule too, so
/// every secret an app can name can exist.
///
/// ```
/// use q8s_core::manifest::is_secret_name;
/// assert!(is_secret_name("db-creds.prod") && is_secret_name("SecretName"));
/// assert!(!is_secret_name("a-") && !is_secret_name("") && !is_secret_name("a/b"));
/// ```
pub fn is_secret_name(name: &str) -> bool {
    secret_name_problem(name).is_none()
}

/// Whether `key` may be an `[[Env]].SecretKey` (and so a key of a secret).
///
/// ```
/// use q8s_core::manifest::is_secret_key;
/// assert!(is_secret_key("API_KEY") && is_secret_key("tls.crt") && !is_secret_key("a b"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    secret_key_problem(key).is_none()
}

/// Why `name` cannot be a secret name, in the words the manifest's `invalid-secret-name` uses
/// (the problem, then the rule); `None` when it can.
///
/// ```
/// use q8s_core::manifest::secret_name_problem;
/// assert_eq!(secret_name_problem("db-creds"), None);
/// assert!(secret_name_problem("-db").unwrap().contains("must start and end with a letter or digit"));
/// ```
pub fn secret_name_problem(name: &str) -> Option<String> {
    let problem = charset::check_dotted_name(name, SECRET_MAX).err()?;
    let message = charset::name_problem("secret name", name, problem, SECRET_MAX);
    Some(format!("{message}: {SECRET_NAME_RULE}"))
}

/// Why `key` cannot be a key of a secret, in the words the manifest's `invalid-secret-key`
/// uses; `None` when it can.
///
/// ```
/// use q8s_core::manifest::secret_key_problem;
/// assert_eq!(secret_key_problem("API_KEY"), None);
/// assert!(secret_key_problem("a b").unwrap().contains("contains ' '"));
/// ```
pub fn secret_key_problem(key: &str) -> Option<String> {
    let problem = charset::check_secret_key(key, SECRET_MAX).err()?;
    let message = charset::name_problem("secret key", key, problem, SECRET_MAX);
    Some(format!("{message}: {SECRET_KEY_RULE}"))
}

/// Checks every `[[Env]]` entry; the entries when each has its three keys
/// valid.
pub(super) fn check(cx: &mut Checker<'_>, node: Option<Node<'_>>) -> Option<Vec<EnvVar>> {
    let Some(node) = node else {
        return Some(Vec::new());
    };
    let Some(entries) = node.elements() else {
        let help = node.is_table().then(|| {
            "write each entry under its own `[[Env]]` header, with double brackets".to_string()
        });
        let found = node.type_name();
        cx.error(
            codes::WRONG_TYPE,
            "Env",
            &node.span(),
            format!("Env: expected an array of tables, found {found}"),
            help,
        );
        return None;
    };
    let mut first_use: HashMap<&str, String> = HashMap::new();
    let mut vars = Some(Vec::with_capacity(entries.len()));
    for (i, entry) in entries.into_iter().enumerate() {
        let path = format!("Env[{i}]");
        let var = check_entry(cx, entry, &path, &mut first_use);
        vars = vars.zip(var).map(|(mut vars, var)| {
            vars.push(var);
            vars
        });
    }
    vars
}

fn check_entry<'n>(
    cx: &mut Checker<'_>,
    entry: Node<'n>,
    path: &str,
    first_use: &mut HashMap<&'n str, String>,
) -> Option<EnvVar> {
    if !entry.is_table() {
        let help = "each entry is a table with Name, Secret and SecretKey".to_string();
        let message = format!("{path}: expected a table, found {}", entry.type_name());
        cx.error(codes::WRONG_TYPE, path, &entry.span(), message, Some(help));
        return None;
    }
    cx.check_keys(entry, path, &keys::ENV);
    let name = cx.required_string(entry, path, "Name", "\"MY_VARIABLE\"");
    let name = name.filter(|f| check_name(cx, f, first_use));
    let secret = cx.required_string(entry, path, "Secret", "\"my-secret\"");
    let secret = secret.filter(|f| check_secret(cx, f));
    let key = cx.required_string(entry, path, "SecretKey", "\"password\"");
    let key = key.filter(|f| check_secret_key(cx, f));
    Some(EnvVar {
        name: name?.value.to_string(),
        secret: secret?.value.to_string(),
        secret_key: key?.value.to_string(),
    })
}

fn check_name<'n>(
    cx: &mut Checker<'_>,
    f: &Field<'n>,
    first_use: &mut HashMap<&'n str, String>,
) -> bool {
    let (path, value) = (&f.path, f.value);
    let duplicate = match first_use.get(value) {
        Some(first) => Some(first.clone()),
        None => {
            first_use.insert(value, path.clone());
            None
        }
    };
    let (code, message, help) = if let Err(problem) = charset::check_env_name(value) {
        let valid = |s: &str| charset::check_env_name(s).is_ok();
        let example = charset::repair(value, '_', valid).unwrap_or_else(|| "MY_VARIABLE".into());
        (
            codes::INVALID_ENV_NAME,
            charset::name_problem(path, value, problem, usize::MAX),
            format!("use letters, digits and `_`, not starting with a digit, e.g. {example:?}"),
        )
    } else if value
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("Q8S"))
    {
        (
            codes::RESERVED_ENV_NAME,
            format!("{path} {value:?} starts with Q8S, which is reserved for the platform"),
            "choose a name that does not start with Q8S (in any case)".to_string(),
        )
    } else if PLATFORM_ENV_NAMES.contains(&value) {
        (
            codes::RESERVED_ENV_NAME,
            format!("{path} {value:?} is set by the platform"),
            format!("q8s sets {value} in every instance; choose another name"),
        )
    } else if let Some(first) = duplicate {
        (
            codes::DUPLICATE_ENV_NAME,
            format!("{path} {value:?} is already set by {first}"),
            "each variable can be set once: remove one of the entries or rename it".to_string(),
        )
    } else {
        return true;
    };
    cx.error(code, path, &f.span, message, Some(help));
    false
}

fn check_secret(cx: &mut Checker<'_>, f: &Field<'_>) -> bool {
    let Err(problem) = charset::check_dotted_name(f.value, SECRET_MAX) else {
        return true;
    };
    let message = charset::name_problem(&f.path, f.value, problem, SECRET_MAX);
    cx.error(
        codes::INVALID_SECRET_NAME,
        &f.path,
        &f.span,
        message,
        Some(SECRET_NAME_RULE.into()),
    );
    false
}

fn check_secret_key(cx: &mut Checker<'_>, f: &Field<'_>) -> bool {
    let Err(problem) = charset::check_secret_key(f.value, SECRET_MAX) else {
        return true;
    };
    let message = charset::name_problem(&f.path, f.value, problem, SECRET_MAX);
    cx.error(
        codes::INVALID_SECRET_KEY,
        &f.path,
        &f.span,
        message,
        Some(SECRET_KEY_RULE.into()),
    );
    false
}
