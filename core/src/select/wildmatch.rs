//! Git's `wildmatch`: the glob dialect of `.gitignore` lines.
//!
//! `*` and `?` never match `/` in pathname mode; `**` matches across `/`
//! when it is a whole path segment (`**/x`, `x/**`, `x/**/y`); `[...]`
//! classes take ranges, `!` or `^` negation, `\` escapes and POSIX
//! `[:name:]` classes; `\` makes the next character literal. Matching is
//! over bytes, like git, so `?` matches one byte of a multi-byte character.
//!
//! The outcome of every pattern/text pair must equal git's, so the control
//! flow (including the early aborts that keep `**` from going exponential)
//! follows git's `wildmatch.c` closely.

/// What one matching attempt found. The two aborts prune the search: no
/// other split of the text can succeed at this level or above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    /// The text ran out: no later start position of any `*` can help.
    AbortAll,
    /// A single `*` reached a `/`: only an enclosing `**` can still help.
    AbortToStarStar,
}

/// True when `text` matches `pattern`. In `pathname` mode `*`, `?` and
/// classes do not match `/`, and `**` segments match any number of
/// directories.
pub(crate) fn wildmatch(pattern: &[u8], text: &[u8], pathname: bool) -> bool {
    dowild(pattern, text, pathname) == Outcome::Match
}

/// The characters that start something other than a literal.
pub(crate) fn is_glob_special(c: u8) -> bool {
    matches!(c, b'*' | b'?' | b'[' | b'\\')
}

#[cfg(test)]
thread_local! {
    /// How many times `dowild` was entered on this thread: the tests bound
    /// the work of pathological patterns by counting, not by timing.
    pub(crate) static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn dowild(pattern: &[u8], text: &[u8], pathname: bool) -> Outcome {
    #[cfg(test)]
    CALLS.with(|c| c.set(c.get() + 1));
    let mut p = 0;
    let mut t = 0;
    while p < pattern.len() {
        let pc = pattern[p];
        let tc = text.get(t).copied();
        if tc.is_none() && pc != b'*' {
            return Outcome::AbortAll;
        }
        match pc {
            b'?' => {
                if pathname && tc == Some(b'/') {
                    return Outcome::NoMatch;
                }
            }
            b'*' => {
                let star = p;
                p += 1;
                let match_slash = if pattern.get(p) == Some(&b'*') {
                    while pattern.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    if !pathname {
                        true
                    } else if (star == 0 || pattern[star - 1] == b'/')
                        && (p == pattern.len()
                            || pattern[p] == b'/'
                            || (pattern[p] == b'\\' && pattern.get(p + 1) == Some(&b'/')))
                    {
                        // `**/` may also match no directory at all. When
                        // that attempt runs out of text, matching from any
                        // later directory would too: give up now (git goes
                        // on, and seven `**/` then cost millions of calls).
                        if pattern.get(p) == Some(&b'/') {
                            match dowild(&pattern[p + 1..], &text[t..], pathname) {
                                outcome @ (Outcome::Match | Outcome::AbortAll) => return outcome,
                                Outcome::NoMatch | Outcome::AbortToStarStar => {}
                            }
                        }
                        true
                    } else {
                        // `**` inside a segment is just `*`.
                        false
                    }
                } else {
                    !pathname
                };
                let rest = &text[t..];
                if p == pattern.len() {
                    // A trailing `**` matches everything; a trailing `*`
                    // only what has no more slashes.
                    return if !match_slash && rest.contains(&b'/') {
                        Outcome::NoMatch
                    } else {
                        Outcome::Match
                    };
                }
                if !match_slash && pattern[p] == b'/' {
                    // One `*` before a `/` matches the rest of this segment.
                    match rest.iter().position(|&c| c == b'/') {
                        Some(slash) => {
                            t += slash + 1;
                            p += 1;
                            continue;
                        }
                        None => return Outcome::NoMatch,
                    }
                }
                return match_star(&pattern[p..], text, t, match_slash, pathname);
            }
            b'[' => match match_class(pattern, &mut p, tc.unwrap_or(0)) {
                Some(true) if !(pathname && tc == Some(b'/')) => {}
                Some(_) => return Outcome::NoMatch,
                None => return Outcome::AbortAll,
            },
            b'\\' => {
                // Escaped literal; a trailing backslash matches nothing.
                p += 1;
                if pattern.get(p).copied() != tc {
                    return Outcome::NoMatch;
                }
            }
            _ => {
                if Some(pc) != tc {
                    return Outcome::NoMatch;
                }
            }
        }
        p += 1;
        t += 1;
    }
    if t < text.len() {
        Outcome::NoMatch
    } else {
        Outcome::Match
    }
}

/// Tries every split of `text[t..]` between a star and the rest of the
/// pattern, `rest` (non-empty).
fn match_star(
    rest: &[u8],
    text: &[u8],
    mut t: usize,
    match_slash: bool,
    pathname: bool,
) -> Outcome {
    while t < text.len() {
        // When a literal follows the star, skip ahead to its next
        // occurrence: everything before it must belong to the star.
        if !is_glob_special(rest[0]) {
            let want = rest[0];
            while t < text.len() && text[t] != want && (match_slash || text[t] != b'/') {
                t += 1;
            }
            if t == text.len() {
                // The literal is nowhere in the rest of the text, so no
                // later split of an enclosing star can match either.
                return Outcome::AbortAll;
            }
            if text[t] != want {
                return Outcome::NoMatch;
            }
        }
        match dowild(rest, &text[t..], pathname) {
            Outcome::NoMatch => {
                if !match_slash && text[t] == b'/' {
                    return Outcome::AbortToStarStar;
                }
            }
            Outcome::AbortToStarStar if match_slash => {}
            other => return other,
        }
        t += 1;
    }
    Outcome::AbortAll
}

/// Matches one `[...]` class starting at `pattern[*p] == b'['` against
/// `c`, leaving `*p` on the closing `]`. `None` when the class is
/// malformed (unterminated, or an unknown `[:name:]`), which fails the
/// whole match.
fn match_class(pattern: &[u8], p: &mut usize, c: u8) -> Option<bool> {
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    *p += 1;
    let mut pc = at(*p);
    let negated = pc == b'!' || pc == b'^';
    if negated {
        *p += 1;
        pc = at(*p);
    }
    let mut prev: u8 = 0;
    let mut matched = false;
    loop {
        if pc == 0 {
            return None;
        }
        if pc == b'\\' {
            *p += 1;
            pc = at(*p);
            if pc == 0 {
                return None;
            }
            matched |= c == pc;
        } else if pc == b'-' && prev != 0 && at(*p + 1) != 0 && at(*p + 1) != b']' {
            *p += 1;
            pc = at(*p);
            if pc == b'\\' {
                *p += 1;
                pc = at(*p);
                if pc == 0 {
                    return None;
                }
            }
            matched |= prev <= c && c <= pc;
            // A range cannot start another range.
            pc = 0;
        } else if pc == b'[' && at(*p + 1) == b':' {
            let name_start = *p + 2;
            let close = name_start + pattern[name_start..].iter().position(|&b| b == b']')?;
            if close > name_start && pattern[close - 1] == b':' {
                matched |= posix_class(&pattern[name_start..close - 1], c)?;
                *p = close;
                pc = 0;
            } else {
                // No `:]`: the `[` is an ordinary member.
                matched |= c == b'[';
            }
        } else {
            matched |= c == pc;
        }
        prev = pc;
        *p += 1;
        pc = at(*p);
        if pc == b']' {
            return Some(matched != negated);
        }
    }
}

/// Membership in a POSIX class, with git's ASCII-only ctype (whose
/// `space` is tab, newline, carriage return and space). `None` for an
/// unknown class name.
fn posix_class(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => matches!(c, b'\t' | b'\n' | b'\r' | b' '),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
