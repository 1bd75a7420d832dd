//! The human formats of the service commands: key-value blocks and tables as the spec shows
//! them, times as `2020-10-13 06:28:03.050 +0000 UTC`, ages as `18d`, `3h`, `12m`.

use q8s_core::api::{App, Instance, InstanceStatus, SecretAccess, SecretInfo, Token};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A key-value block: keys padded to one column; multi-line values stay in the value column.
pub fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(format!("{key:<width$} {first}").trim_end());
        out.push('\n');
        for line in lines {
            out.push_str(format!("{:<width$} {line}", "").trim_end());
            out.push('\n');
        }
    }
    out
}

/// A table: a header row and rows, columns separated by two spaces, the last column unpadded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                text.push_str(cell);
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A server time (RFC 3339) as the spec prints it: `2020-10-13 06:28:03.050 +0000 UTC`.
/// Text that is not RFC 3339 is shown as it is.
pub fn long_time(rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return rfc3339.to_owned();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    let fraction = rfc3339
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .filter(|f| !f.is_empty())
        .map(|f| format!(".{f}"))
        .unwrap_or_default();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction} +0000 UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// How long ago a server time was, in one unit: `45s`, `12m`, `3h`, `18d`.
pub fn age(rfc3339: &str, now: OffsetDateTime) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return "?".to_owned();
    };
    let seconds = (now - t).whole_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// The table of `token list`: the token this command used is marked in CURRENT.
pub fn token_table(tokens: &[Token], now: OffsetDateTime) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.name.clone(),
                t.owner.clone(),
                age(&t.created_at, now),
                t.last_used_at
                    .as_deref()
                    .map_or_else(|| "never".to_owned(), |used| age(used, now)),
                if t.current { "yes" } else { "" }.to_owned(),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "OWNER", "CREATED", "LAST USED", "CURRENT"],
        &rows,
    )
}

/// The app block of `bundle import`, `app get` and `app update`.
pub fn app_block(app: &App) -> String {
    key_values(&[
        ("ID", app.id.clone()),
        ("Title", or_dash(app.title.as_deref())),
        ("Version", app.version.clone()),
        ("Category", or_dash(app.category.as_deref())),
        ("Created At", long_time(&app.created_at)),
        ("Updated At", long_time(&app.updated_at)),
        ("Owner", app.owner.clone()),
        ("Visibility", app.visibility.to_string()),
        ("Bundle Location", app.bundle.location.clone()),
        ("Icon Location", or_dash(app.icon_location.as_deref())),
        ("Description", or_dash(app.description.as_deref())),
    ])
}

/// The two lines `app run` prints: `ID` and `URL`.
pub fn launched_block(instance: &Instance) -> String {
    key_values(&[("ID", instance.id.clone()), ("URL", instance.url.clone())])
}

/// The block of `instance get` and the instance commands that answer an instance.
pub fn instance_block(instance: &Instance) -> String {
    key_values(&[
        ("ID", instance.id.clone()),
        ("App", instance.app_name.clone()),
        ("Version", instance.app_version.clone()),
        ("App ID", instance.app_id.clone()),
        ("Owner", instance.owner.clone()),
        ("Status", instance.status.to_string()),
        ("Message", or_dash(instance.status_message.as_deref())),
        ("Restarts", instance.restarts.to_string()),
        ("Visibility", instance.visibility.to_string()),
        ("Created At", long_time(&instance.created_at)),
        ("Updated At", long_time(&instance.updated_at)),
        ("URL", instance.url.clone()),
    ])
}

/// `app list`: `ID TITLE OWNER CREATED UPDATED CATEGORY VISIBILITY`.
pub fn app_table(apps: &[App], now: OffsetDateTime) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.title_and_version(),
                a.owner.clone(),
                age(&a.created_at, now),
                age(&a.updated_at, now),
                or_dash(a.category.as_deref()),
                a.visibility.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TITLE",
            "OWNER",
            "CREATED",
            "UPDATED",
            "CATEGORY",
            "VISIBILITY",
        ],
        &rows,
    )
}

/// The line under a list cut at `--limit` when the server has more.
pub fn more_footer(more: bool, what: &str) -> String {
    match more {
        true => format!("more {what} not shown (a larger --limit, or none, lists them)\n"),
        false => String::new(),
    }
}

/// The last line of `instance list` when terminated instances were left out.
pub fn terminated_footer(omitted: u64) -> String {
    match omitted {
        0 => String::new(),
        1 => "1 terminated instance not shown (--status all lists it)\n".to_owned(),
        n => format!("{n} terminated instances not shown (--status all lists them)\n"),
    }
}

/// `instance list`: `ID APP VERSION OWNER STATUS CREATED VISIBILITY URL`; a terminated
/// instance has no URL (it answers 410).
pub fn instance_table(instances: &[Instance], now: OffsetDateTime) -> String {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.app_name.clone(),
                i.app_version.clone(),
                i.owner.clone(),
                i.status.to_string(),
                age(&i.created_at, now),
                i.visibility.to_string(),
                if i.status == InstanceStatus::Terminated {
                    "-".to_owned()
                } else {
                    i.url.clone()
                },
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "APP",
            "VERSION",
            "OWNER",
            "STATUS",
            "CREATED",
            "VISIBILITY",
            "URL",
        ],
        &rows,
    )
}

/// Who may use a secret, in words: `ALL_USERS`, usernames, or `admins only`.
fn secret_users(access: &SecretAccess) -> String {
    access.users.to_string()
}

/// Which apps may get a secret: `any`, or their Names.
fn secret_apps(access: &SecretAccess) -> String {
    match &access.apps {
        None => "any".to_owned(),
        Some(apps) => apps.join(","),
    }
}

/// `secret list`: `NAME KEYS`; admins (whose answer carries the rules) get
/// `NAME USERS APPS KEYS`.
pub fn secret_table(secrets: &[SecretInfo]) -> String {
    if secrets.iter().any(|s| s.access.is_some()) {
        let rows: Vec<Vec<String>> = secrets
            .iter()
            .map(|s| {
                let (users, apps) = s
                    .access
                    .as_ref()
                    .map_or_else(Default::default, |a| (secret_users(a), secret_apps(a)));
                vec![s.name.clone(), users, apps, s.keys.join(", ")]
            })
            .collect();
        return table(&["NAME", "USERS", "APPS", "KEYS"], &rows);
    }
    let rows: Vec<Vec<String>> = secrets
        .iter()
        .map(|s| vec![s.name.clone(), s.keys.join(", ")])
        .collect();
    table(&["NAME", "KEYS"], &rows)
}

/// `admin secret set` and `admin secret access`: name, keys and rule.
pub fn secret_details(secret: &SecretInfo) -> String {
    let mut rows = vec![
        ("Secret", secret.name.clone()),
        ("Keys", secret.keys.join(", ")),
    ];
    if let Some(access) = &secret.access {
        rows.push(("Users", secret_users(access)));
        rows.push(("Apps", secret_apps(access)));
    }
    key_values(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn key_values_align_and_indent_continuations() {
        let text = key_values(&[
            ("ID", "x".into()),
            ("Bundle Location", "b.qz".into()),
            ("Description", "line one\nline two".into()),
        ]);
        assert_eq!(
            text,
            "ID              x\nBundle Location b.qz\nDescription     line one\n                line two\n"
        );
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let text = table(
            &["ID", "TITLE", "AGE"],
            &[
                vec!["a".into(), "Q Peak 0.1.1".into(), "18d".into()],
                vec!["bbbb".into(), "Q".into(), "3h".into()],
            ],
        );
        assert_eq!(
            text,
            "ID    TITLE         AGE\na     Q Peak 0.1.1  18d\nbbbb  Q             3h\n"
        );
    }

    #[test]
    fn times_read_like_the_spec() {
        assert_eq!(
            long_time("2020-10-13T06:28:03.050Z"),
            "2020-10-13 06:28:03.050 +0000 UTC"
        );
        assert_eq!(
            long_time("2020-10-13T08:28:03+02:00"),
            "2020-10-13 06:28:03 +0000 UTC"
        );
        assert_eq!(long_time("yesterday"), "yesterday");
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let now = datetime!(2020-10-31 06:28:03 UTC);
        assert_eq!(age("2020-10-31T06:27:50Z", now), "13s");
        assert_eq!(age("2020-10-31T06:16:00Z", now), "12m");
        assert_eq!(age("2020-10-31T03:00:00Z", now), "3h");
        assert_eq!(age("2020-10-13T06:28:03.050Z", now), "17d");
        assert_eq!(age("2020-11-01T00:00:00Z", now), "0s", "clock skew");
        assert_eq!(age("garbage", now), "?");
    }
}
