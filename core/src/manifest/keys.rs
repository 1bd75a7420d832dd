//! The keys each table knows, and the H2O AI Cloud keys q8s recognises but
//! does not use.

/// The keys of one table.
pub(super) struct TableKeys {
    /// How the table is named in messages: `[App]`, `[[Env]]`, `the top level`.
    pub display: &'static str,
    /// Keys q8s reads.
    pub known: &'static [&'static str],
    /// H2O AI Cloud `app.toml` keys q8s ignores, with the help to show;
    /// `{value}` in a help stands for the key's value when it is a string
    /// (shown quoted), or for "a file" otherwise.
    pub unsupported: &'static [(&'static str, &'static str)],
}

const IGNORED: &str = "q8s ignores it; remove it";

pub(super) const ROOT: TableKeys = TableKeys {
    display: "the top level",
    known: &["App", "Runtime", "Env"],
    unsupported: &[
        (
            "File",
            "q8s does not mount files from secrets; use [[Env]] to read a secret",
        ),
        ("Link", IGNORED),
    ],
};

pub(super) const APP: TableKeys = TableKeys {
    display: "[App]",
    known: &[
        "Name",
        "Version",
        "Title",
        "Description",
        "Category",
        "Keywords",
    ],
    unsupported: &[
        (
            "LongDescription",
            "in H2O AI Cloud its value names a file ({value}) whose contents become the app's \
             long description; q8s does not read that file: move its text into `Description`, \
             which may span several lines",
        ),
        (
            "Tags",
            "use `Keywords` for search terms and `Category` for the catalog group",
        ),
        ("InstanceLifecycle", IGNORED),
        ("InstanceTimeout", IGNORED),
    ],
};

pub(super) const RUNTIME: TableKeys = TableKeys {
    display: "[Runtime]",
    known: &[
        "Module",
        "VolumeMount",
        "VolumeSize",
        "MemoryLimit",
        "MemoryReservation",
        "IdleSuspend",
    ],
    unsupported: &[
        (
            "RuntimeVersion",
            "q8s chooses the runtime itself; remove it",
        ),
        (
            "RoutingMode",
            "every q8s instance gets its own address; remove it",
        ),
        (
            "EnableOIDC",
            "q8s signs users in itself and does not fill `q.auth` (no OIDC tokens reach the \
             app); the proxy sends the signed-in user's name in the `X-Forwarded-User` request \
             header (`q.headers` in recent Wave releases); remove the key",
        ),
        ("EnableSHM", IGNORED),
        ("CPULimit", "q8s limits memory only; remove it"),
        ("CPUReservation", "q8s limits memory only; remove it"),
        ("GPUCount", IGNORED),
        ("GPUType", IGNORED),
        ("ResourceVolumeSize", IGNORED),
        ("AppMode", IGNORED),
        ("Port", "q8s sets the port itself; remove it"),
        ("CustomImage", IGNORED),
    ],
};

pub(super) const ENV: TableKeys = TableKeys {
    display: "[[Env]]",
    known: &["Name", "Secret", "SecretKey"],
    unsupported: &[(
        "Value",
        "q8s fills variables from secrets only; ask an admin for a secret with this value",
    )],
};

/// The table a key belongs in, when it is misplaced (`Module` in `[App]`).
pub(super) fn home_of(key: &str) -> Option<&'static str> {
    [("[App]", &APP), ("[Runtime]", &RUNTIME), ("[[Env]]", &ENV)]
        .into_iter()
        .find(|(_, keys)| keys.known.contains(&key))
        .map(|(name, _)| name)
}
