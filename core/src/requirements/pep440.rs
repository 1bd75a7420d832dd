//! PEP 440 versions, read as leniently as pip and uv read them: every
//! spelling that normalises to a valid version (`v1.0`, `1.0-Alpha.1`,
//! `1.0.post-2`, `1!2.0+local.7`) is accepted.

/// The parts of a version that order it (enough for q8s's comparisons: the
/// release numbers, and whether it is a pre- or dev-release).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    /// The epoch (`1!` in `1!2.0`), 0 when absent.
    pub epoch: u64,
    /// The release numbers: `[1, 8, 16]` for `1.8.16`.
    pub release: Vec<u64>,
    /// A pre- or dev-release (`1.0rc1`, `1.0.dev3`), which sorts before the
    /// release itself.
    pub prerelease: bool,
    /// Has a local part (`+cpu` in `2.1.0+cpu`).
    pub local: bool,
}

impl Version {
    /// Compares release numbers as PEP 440 does (missing numbers are 0);
    /// a pre-release sorts just below its release.
    pub(crate) fn cmp_release(&self, other: &Version) -> std::cmp::Ordering {
        let len = self.release.len().max(other.release.len());
        let get = |r: &[u64], i: usize| r.get(i).copied().unwrap_or(0);
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| {
                (0..len)
                    .map(|i| get(&self.release, i).cmp(&get(&other.release, i)))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .then_with(|| other.prerelease.cmp(&self.prerelease))
    }
}

/// A cursor over the lowercased text of a version.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, word: &str) -> bool {
        let done = self.text[self.at..].starts_with(word.as_bytes());
        if done {
            self.at += word.len();
        }
        done
    }

    fn eat_separator(&mut self) -> bool {
        self.eat(".") || self.eat("-") || self.eat("_")
    }

    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        // A number too large for u64 still is a number: saturate.
        (!digits.is_empty()).then(|| digits.parse().unwrap_or(u64::MAX))
    }

    /// Tries `f`; on `None` the cursor goes back to where it was.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.at;
        let found = f(self);
        if found.is_none() {
            self.at = start;
        }
        found
    }

    fn done(&self) -> bool {
        self.at == self.text.len()
    }
}

/// Parses a version; `wildcard` allows a trailing `.*` after the release
/// (`==1.8.*`), which then ends the version. `None` when it is not one.
pub(crate) fn parse(text: &str, wildcard: bool) -> Option<Version> {
    let lower = text.trim().to_ascii_lowercase();
    let mut c = Cursor {
        text: lower.as_bytes(),
        at: 0,
    };
    c.eat("v");
    let first = c.number()?;
    let (epoch, first) = if c.eat("!") {
        (first, c.number()?)
    } else {
        (0, first)
    };
    let mut release = vec![first];
    while let Some(n) = c.attempt(|c| {
        c.eat(".");
        c.number()
    }) {
        // `attempt` above accepts a bare number only after a dot.
        release.push(n);
    }
    if wildcard && c.eat(".*") {
        return c.done().then_some(Version {
            epoch,
            release,
            prerelease: false,
            local: false,
        });
    }
    let mut prerelease = false;
    // Pre-release: [-_.]? (alpha|a|beta|b|preview|pre|c|rc) [-_.]? N?
    if c.attempt(|c| {
        c.eat_separator();
        let label = ["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"]
            .into_iter()
            .find(|l| c.eat(l))?;
        c.attempt(|c| {
            c.eat_separator();
            c.number()
        });
        Some(label)
    })
    .is_some()
    {
        prerelease = true;
    }
    // Post-release: -N, or [-_.]? (post|rev|r) [-_.]? N?
    let implicit_post = c.attempt(|c| {
        c.eat("-").then_some(())?;
        c.number()
    });
    if implicit_post.is_none() {
        c.attempt(|c| {
            c.eat_separator();
            ["post", "rev", "r"].into_iter().find(|l| c.eat(l))?;
            c.attempt(|c| {
                c.eat_separator();
                c.number()
            });
            Some(0)
        });
    }
    // Dev release: [-_.]? dev [-_.]? N?
    if c.attempt(|c| {
        c.eat_separator();
        c.eat("dev").then_some(())?;
        c.attempt(|c| {
            c.eat_separator();
            c.number()
        });
        Some(())
    })
    .is_some()
    {
        prerelease = true;
    }
    // Local version: +[a-z0-9]+([-_.][a-z0-9]+)*
    let local = c.eat("+");
    if local {
        let local = &lower[c.at..];
        let valid = !local.is_empty()
            && local
                .split(['.', '-', '_'])
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !valid {
            return None;
        }
        c.at = c.text.len();
    }
    c.done().then_some(Version {
        epoch,
        release,
        prerelease,
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_normalisable_spelling() {
        for v in [
            "1",
            "1.8.16",
            "v1.0",
            "V1.0",
            "1!2.0",
            "1.0a1",
            "1.0-alpha.1",
            "1.0.Beta2",
            "1.0rc",
            "1.0c3",
            "1.0pre4",
            "1.0preview_5",
            "1.0-1",
            "1.0.post2",
            "1.0post",
            "1.0-r3",
            "1.0.rev",
            "1.0.dev0",
            "1.0dev",
            "1.0a1.post2.dev3",
            "1.0+local.7",
            "1.0+ubuntu-1_x",
            " 1.0 ",
            "2024.12.31",
        ] {
            assert!(parse(v, false).is_some(), "{v}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for v in [
            "", "v", "1.", ".1", "1..0", "1.0.*", "1.x", "latest", "1.0+", "1.0+a..b", "1.0 beta",
            "1.0-", "1.0foo", "1,0", "=1.0", "1.0--r",
        ] {
            assert!(parse(v, false).is_none(), "{v}");
        }
        assert!(parse("1.8.*", true).is_some());
        assert!(parse("1.8.*.1", true).is_none());
    }

    #[test]
    fn orders_releases() {
        let v = |s: &str| parse(s, false).unwrap();
        use std::cmp::Ordering::*;
        assert_eq!(v("1.8.5").cmp_release(&v("1.8.6")), Less);
        assert_eq!(v("1.8").cmp_release(&v("1.8.0")), Equal);
        assert_eq!(v("1.8.6rc1").cmp_release(&v("1.8.6")), Less);
        assert_eq!(v("1!0.1").cmp_release(&v("2.0")), Greater);
        assert_eq!(v("0.26.4").cmp_release(&v("1.0")), Less);
    }
}
