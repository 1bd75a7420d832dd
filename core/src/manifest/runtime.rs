//! The `[Runtime]` table: module, volume, memory.

use super::Runtime;
use super::charset::{self, ModulePartProblem};
use super::check::{Checker, Field};
use super::codes;
use super::keys;
use super::node::Node;
use super::quantity_rules;
use super::volume;

/// Below this a memory limit draws a warning.
const LOW_MEMORY_LIMIT: u64 = 64 << 20;

/// Checks `[Runtime]`; the table when `Module` is valid (the caller keeps it
/// only if no diagnostic at all is an error).
pub(super) fn check(cx: &mut Checker<'_>, table: Node<'_>) -> Option<Runtime> {
    cx.check_keys(table, "Runtime", &keys::RUNTIME);
    let module = cx
        .required_string(table, "Runtime", "Module", "\"app\"")
        .filter(|f| check_module(cx, f));

    check_volume_pair(cx, table);
    let volume_mount = cx.string(table, "Runtime", "VolumeMount");
    if let Some(mount) = &volume_mount {
        check_volume_mount(cx, mount);
    }
    let volume_size = cx.string(table, "Runtime", "VolumeSize");
    if let Some(size) = &volume_size {
        quantity_rules::check(cx, size);
    }

    let (memory_limit, memory_reservation) = check_memory(cx, table);
    let idle_suspend = cx.string(table, "Runtime", "IdleSuspend");
    if let Some(f) = &idle_suspend {
        check_idle_suspend(cx, f);
    }

    let owned = |f: Option<Field<'_>>| f.map(|f| f.value.to_string());
    Some(Runtime {
        module: module?.value.to_string(),
        volume_mount: owned(volume_mount),
        volume_size: owned(volume_size),
        memory_limit: owned(memory_limit),
        memory_reservation: owned(memory_reservation),
        idle_suspend: owned(idle_suspend),
    })
}

/// `IdleSuspend`: `never`, or a duration of at least a second.
fn check_idle_suspend(cx: &mut Checker<'_>, f: &Field<'_>) {
    if f.value == super::IDLE_SUSPEND_NEVER {
        return;
    }
    let help = "write how long an instance may go without a request, e.g. \"30m\" or \"1h30m\" \
                (units d, h, m, s), or \"never\"";
    match crate::duration::parse(f.value) {
        Ok(duration) if duration.as_secs() >= 1 => {}
        Ok(_) => cx.error(
            codes::INVALID_DURATION,
            &f.path,
            &f.span,
            format!("{} {:?} is zero", f.path, f.value),
            Some(format!("{help}; to keep instances awake, write \"never\"")),
        ),
        Err(why) => cx.error(
            codes::INVALID_DURATION,
            &f.path,
            &f.span,
            format!("{} {:?} {why}", f.path, f.value),
            Some(help.into()),
        ),
    }
}

/// `MemoryLimit` and `MemoryReservation`, each a size, the reservation at
/// most the limit.
fn check_memory<'n>(
    cx: &mut Checker<'_>,
    table: Node<'n>,
) -> (Option<Field<'n>>, Option<Field<'n>>) {
    let memory_limit = cx.string(table, "Runtime", "MemoryLimit");
    let limit_bytes = memory_limit
        .as_ref()
        .and_then(|f| quantity_rules::check(cx, f));
    if let (Some(f), Some(bytes)) = (&memory_limit, limit_bytes) {
        if bytes < LOW_MEMORY_LIMIT {
            cx.warning(
                codes::MEMORY_LIMIT_LOW,
                &f.path,
                &f.span,
                format!("{} {:?} is below 64Mi", f.path, f.value),
                Some("a Python app usually needs more; the instance may be killed for lack of memory as it starts".into()),
            );
        }
    }
    let memory_reservation = cx.string(table, "Runtime", "MemoryReservation");
    let reservation_bytes = memory_reservation
        .as_ref()
        .and_then(|f| quantity_rules::check(cx, f));
    if let (Some(r), Some(reserved), Some(l), Some(limit)) = (
        &memory_reservation,
        reservation_bytes,
        &memory_limit,
        limit_bytes,
    ) {
        if reserved > limit {
            cx.error(
                codes::MEMORY_RESERVATION_EXCEEDS_LIMIT,
                &r.path,
                &r.span,
                format!("{} {:?} is greater than {} {:?}", r.path, r.value, l.path, l.value),
                Some("the reservation is the memory an instance is guaranteed; it cannot exceed the limit".into()),
            );
        }
    }
    (memory_limit, memory_reservation)
}

fn check_module(cx: &mut Checker<'_>, f: &Field<'_>) -> bool {
    let Some((message, help)) = module_problem(&f.path, f.value) else {
        return true;
    };
    cx.error(codes::INVALID_MODULE, &f.path, &f.span, message, Some(help));
    false
}

fn module_problem(path: &str, value: &str) -> Option<(String, String)> {
    let generic = "write the module as for `python -m`, e.g. \"q_app.run\"";
    if value.is_empty() {
        return Some((format!("{path} is empty"), generic.into()));
    }
    if value.contains(['/', '\\']) || value.ends_with(".py") {
        let module = value.trim_end_matches(".py").replace(['/', '\\'], ".");
        let module = module.trim_matches('.');
        let help = match module_problem(path, module) {
            None => format!("write the module as for `python -m`: {module:?}"),
            Some(_) => generic.to_string(),
        };
        return Some((
            format!("{path} {value:?} is a file path, not a module name"),
            help,
        ));
    }
    for part in value.split('.') {
        let (what, help) = match charset::check_module_part(part) {
            Ok(()) => continue,
            Err(ModulePartProblem::Empty) => (
                "has an empty part".to_string(),
                "separate the names with single dots, without a dot at either end, e.g. \"q_app.run\"".to_string(),
            ),
            Err(ModulePartProblem::Keyword) => (
                format!("uses the Python keyword `{part}` as a name"),
                format!("`import` cannot name `{part}`: rename that module or package"),
            ),
            Err(ModulePartProblem::LeadingDigit) => (
                format!("has `{part}`, which starts with a digit"),
                "Python names start with a letter or `_`: rename that module or package".to_string(),
            ),
            Err(ModulePartProblem::BadChar('-')) => (
                format!("has `{part}`, which contains `-`"),
                format!("Python module names use `_` instead: rename it to `{}`", part.replace('-', "_")),
            ),
            Err(ModulePartProblem::BadChar(c)) => (
                format!("has `{part}`, which contains {c:?}"),
                "Python names are letters, digits and `_`".to_string(),
            ),
        };
        return Some((format!("{path} {value:?} {what}"), help));
    }
    None
}

/// VolumeMount and VolumeSize come together.
fn check_volume_pair(cx: &mut Checker<'_>, table: Node<'_>) {
    let (mount, size) = (table.get("VolumeMount"), table.get("VolumeSize"));
    let (present, missing, help) = match (mount, size) {
        (Some(m), None) => (
            m,
            "VolumeSize",
            "add `VolumeSize = \"1Gi\"`, or remove `VolumeMount`",
        ),
        (None, Some(s)) => (
            s,
            "VolumeMount",
            "add `VolumeMount = \"/data\"`, or remove `VolumeSize`",
        ),
        _ => return,
    };
    let other = if missing == "VolumeSize" {
        "VolumeMount"
    } else {
        "VolumeSize"
    };
    cx.error(
        codes::VOLUME_INCOMPLETE,
        &format!("Runtime.{missing}"),
        &present.span(),
        format!("Runtime.{other} is set but Runtime.{missing} is missing"),
        Some(help.into()),
    );
}

fn check_volume_mount(cx: &mut Checker<'_>, f: &Field<'_>) {
    if let Some(d) = volume::check_volume_mount(f.value) {
        cx.error(&d.code, &f.path, &f.span, d.message, d.help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        let problem = |m: &str| module_problem("Runtime.Module", m).map(|(_, help)| help);
        assert_eq!(problem("q_app.run"), None);
        assert_eq!(problem("app"), None);
        assert_eq!(
            problem("q_app/run.py").as_deref(),
            Some("write the module as for `python -m`: \"q_app.run\"")
        );
        assert!(problem("my-app").unwrap().contains("`my_app`"));
        assert!(problem("a..b").is_some());
        assert!(problem(".a").is_some());
        assert!(problem("a.").is_some());
        assert!(problem("app.class").unwrap().contains("`class`"));
        assert!(problem("1app").is_some());
        assert!(problem("a b").is_some());
    }
}
