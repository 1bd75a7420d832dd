//! Cases from git's own wildmatch test suite (t3070): `(text, pattern,
//! matches in pathname mode, matches without it)`.

use super::wildmatch;

const CASES: &[(&str, &str, bool, bool)] = &[
    // Basics.
    ("foo", "foo", true, true),
    ("foo", "bar", false, false),
    ("", "", true, true),
    ("foo", "???", true, true),
    ("foo", "??", false, false),
    ("foo", "*", true, true),
    ("foo", "f*", true, true),
    ("foo", "*f", false, false),
    ("foo", "*foo*", true, true),
    ("foobar", "*ob*a*r*", true, true),
    ("aaaaaaabababab", "*ab", true, true),
    ("foo*", r"foo\*", true, true),
    ("foobar", r"foo\*bar", false, false),
    (r"f\oo", r"f\\oo", true, true),
    ("ball", "*[al]?", true, true),
    ("ten", "[ten]", false, false),
    ("ten", "**[!te]", true, true),
    ("ten", "**[!ten]", false, false),
    ("ten", "t[a-g]n", true, true),
    ("ten", "t[!a-g]n", false, false),
    ("ton", "t[!a-g]n", true, true),
    ("ton", "t[^a-g]n", true, true),
    ("a]b", "a[]]b", true, true),
    ("a-b", "a[]-]b", true, true),
    ("a]b", "a[]-]b", true, true),
    ("aab", "a[]-]b", false, false),
    ("aab", "a[]a-]b", true, true),
    ("]", "]", true, true),
    // Slashes and `**`.
    ("foo/baz/bar", "foo*bar", false, true),
    ("foo/baz/bar", "foo**bar", false, true),
    ("foobazbar", "foo**bar", true, true),
    ("foo/baz/bar", "foo/**/bar", true, true),
    ("foo/baz/bar", "foo/**/**/bar", true, false),
    ("foo/b/a/z/bar", "foo/**/bar", true, true),
    ("foo/b/a/z/bar", "foo/**/**/bar", true, true),
    ("foo/bar", "foo/**/bar", true, false),
    ("foo/bar", "foo/**/**/bar", true, false),
    ("foo/bar", "foo?bar", false, true),
    ("foo/bar", "foo[/]bar", false, true),
    ("foo/bar", "foo[^a-z]bar", false, true),
    ("foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", false, true),
    ("foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", true, true),
    ("foo", "**/foo", true, false),
    ("XXX/foo", "**/foo", true, true),
    ("bar/baz/foo", "**/foo", true, true),
    ("bar/baz/foo", "*/foo", false, true),
    ("foo/bar/baz", "**/bar*", false, true),
    ("deep/foo/bar/baz", "**/bar/*", true, true),
    ("deep/foo/bar/baz/", "**/bar/*", false, true),
    ("deep/foo/bar/baz/", "**/bar/**", true, true),
    ("deep/foo/bar", "**/bar/*", false, false),
    ("deep/foo/bar/", "**/bar/**", true, true),
    ("foo/bar/baz", "**/bar**", false, true),
    ("foo/bar/baz/x", "*/bar/**", true, true),
    ("deep/foo/bar/baz/x", "*/bar/**", false, true),
    ("deep/foo/bar/baz/x", "**/bar/*/*", true, true),
    // Odd corners.
    ("acrt", "a[c-c]st", false, false),
    ("acrt", "a[c-c]rt", true, true),
    ("]", "[!]-]", false, false),
    ("a", "[!]-]", true, true),
    ("", r"\", false, false),
    (r"\", r"\", false, false),
    (r"XXX/\", r"*/\", false, false),
    (r"XXX/\", r"*/\\", true, true),
    ("@foo", "@foo", true, true),
    ("foo", "@foo", false, false),
    ("[ab]", r"\[ab]", true, true),
    ("[ab]", "[[]ab]", true, true),
    ("[ab]", "[[:]ab]", true, true),
    ("[ab]", "[[::]ab]", false, false),
    ("[ab]", "[[:digit]ab]", true, true),
    ("[ab]", r"[\[:]ab]", true, true),
    ("?a?b", r"\??\?b", true, true),
    ("abc", r"\a\b\c", true, true),
    ("foo", "", false, false),
    ("foo/bar/baz/to", "**/t[o]", true, true),
    // POSIX classes.
    ("a1B", "[[:alpha:]][[:digit:]][[:upper:]]", true, true),
    ("a", "[[:digit:][:upper:][:space:]]", false, false),
    ("A", "[[:digit:][:upper:][:space:]]", true, true),
    ("1", "[[:digit:][:upper:][:space:]]", true, true),
    ("1", "[[:digit:][:upper:][:spaci:]]", false, false),
    (" ", "[[:digit:][:upper:][:space:]]", true, true),
    (".", "[[:digit:][:upper:][:space:]]", false, false),
    (".", "[[:digit:][:punct:][:space:]]", true, true),
    ("5", "[[:xdigit:]]", true, true),
    ("f", "[[:xdigit:]]", true, true),
    ("D", "[[:xdigit:]]", true, true),
    (
        "_",
        "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]",
        true,
        true,
    ),
    (
        ".",
        "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]",
        true,
        true,
    ),
    ("5", "[a-c[:digit:]x-z]", true, true),
    ("b", "[a-c[:digit:]x-z]", true, true),
    ("y", "[a-c[:digit:]x-z]", true, true),
    ("q", "[a-c[:digit:]x-z]", false, false),
    ("\x0b", "[[:space:]]", false, false),
    ("\x0c", "[[:space:]]", false, false),
    ("\t", "[[:blank:]]", true, true),
    ("\x7f", "[[:cntrl:]]", true, true),
    // Malformed classes and ranges.
    ("]", r"[\\-^]", true, true),
    ("[", r"[\\-^]", false, false),
    ("-", r"[\-_]", true, true),
    ("]", r"[\]]", true, true),
    (r"\]", r"[\]]", false, false),
    (r"\", r"[\]]", false, false),
    ("ab", "a[]b", false, false),
    ("a[]b", "a[]b", false, false),
    ("ab[", "ab[", false, false),
    ("ab", "[!", false, false),
    ("ab", "[-", false, false),
    ("-", "[-]", true, true),
    ("-", "[a-", false, false),
    ("-", "[!a-", false, false),
    ("-", "[--A]", true, true),
    ("5", "[--A]", true, true),
    (" ", "[ --]", true, true),
    ("$", "[ --]", true, true),
    ("-", "[ --]", true, true),
    ("0", "[ --]", false, false),
    ("-", "[---]", true, true),
    ("-", "[------]", true, true),
    ("j", "[a-e-n]", false, false),
    ("-", "[a-e-n]", true, true),
    ("a", "[!------]", true, true),
    ("[", "[]-a]", false, false),
    ("^", "[]-a]", true, true),
    ("^", "[!]-a]", false, false),
    ("[", "[!]-a]", true, true),
    ("^", "[a^bc]", true, true),
    ("-b]", "[a-]b]", true, true),
    (r"\", r"[\]", false, false),
    (r"\", r"[\\]", true, true),
    (r"\", r"[!\\]", false, false),
    ("G", r"[A-\\]", true, true),
    ("aaabbb", "b*a", false, false),
    ("aabcaa", "*ba*", false, false),
    (",", "[,]", true, true),
    (",", r"[\\,]", true, true),
    (r"\", r"[\\,]", true, true),
    ("-", "[,-.]", true, true),
    ("+", "[,-.]", false, false),
    ("-.]", "[,-.]", false, false),
    ("2", r"[\1-\3]", true, true),
    ("3", r"[\1-\3]", true, true),
    ("4", r"[\1-\3]", false, false),
    (r"\", r"[[-\]]", true, true),
    ("[", r"[[-\]]", true, true),
    ("]", r"[[-\]]", true, true),
    ("-", r"[[-\]]", false, false),
    // Backtracking.
    (
        "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
        true,
        true,
    ),
    (
        "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
        false,
        false,
    ),
    (
        "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
        false,
        false,
    ),
    (
        "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1",
        "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
        true,
        true,
    ),
    (
        "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1",
        "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
        false,
        false,
    ),
    (
        "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt",
        "**/*a*b*g*n*t",
        true,
        true,
    ),
    (
        "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz",
        "**/*a*b*g*n*t",
        false,
        false,
    ),
    ("foo", "*/*/*", false, false),
    ("foo/bar", "*/*/*", false, false),
    ("foo/bba/arr", "*/*/*", true, true),
    ("foo/bb/aa/rr", "*/*/*", false, true),
    ("foo/bb/aa/rr", "**/**/**", true, true),
    ("abcXdefXghi", "*X*i", true, true),
    ("ab/cXd/efXg/hi", "*X*i", false, true),
    ("ab/cXd/efXg/hi", "*/*X*/*/*i", true, true),
    ("ab/cXd/efXg/hi", "**/*X*/**/*i", true, true),
    // Paths.
    ("foo", "fo", false, false),
    ("foo/bar", "foo/bar", true, true),
    ("foo/bar", "foo/*", true, true),
    ("foo/bba/arr", "foo/*", false, true),
    ("foo/bba/arr", "foo/**", true, true),
    ("foo/bba/arr", "foo*", false, true),
    ("foo/bba/arr", "foo**", false, true),
    ("foo/bba/arr", "foo/*arr", false, true),
    ("foo/bba/arr", "foo/**arr", false, true),
    ("foo/bba/arr", "foo/*z", false, false),
    ("foo/bba/arr", "foo/**z", false, false),
    ("ab/cXd/efXg/hi", "*Xg*i", false, true),
    ("foo//bar", "foo/*/bar", true, true),
    ("foo", "foo/**", false, false),
    ("a/b", r"a\/b", true, true),
    ("a/b", r"a**\/b", true, true),
    ("a/x/b", r"a/**\/b", true, true),
    // Case always matters.
    ("a", "[A-Z]", false, false),
    ("A", "[A-Z]", true, true),
    ("A", "[a-z]", false, false),
    ("a", "[[:upper:]]", false, false),
    ("A", "[[:lower:]]", false, false),
    ("A", "[B-Za]", false, false),
    ("a", "[B-a]", true, true),
    ("z", "[Z-y]", false, false),
    ("Z", "[Z-y]", true, true),
    // Bytes, not characters.
    ("é", "?", false, false),
    ("é", "??", true, true),
    ("é", "*", true, true),
];

#[test]
fn agrees_with_gits_test_suite() {
    let mut failures = Vec::new();
    for &(text, pattern, pathname, plain) in CASES {
        let got_pathname = wildmatch(pattern.as_bytes(), text.as_bytes(), true);
        let got_plain = wildmatch(pattern.as_bytes(), text.as_bytes(), false);
        if got_pathname != pathname {
            failures.push(format!("pathname {text:?} {pattern:?}: got {got_pathname}"));
        }
        if got_plain != plain {
            failures.push(format!("plain {text:?} {pattern:?}: got {got_plain}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn stays_fast_on_pathological_patterns() {
    // Counted in calls of the matcher, not in seconds, so a loaded machine
    // cannot fail it. Without the aborts these take billions of calls.
    let calls = |pattern: &[u8], text: &str, expected: bool| {
        super::CALLS.with(|c| c.set(0));
        assert_eq!(wildmatch(pattern, text.as_bytes(), true), expected);
        super::CALLS.with(|c| c.get())
    };
    let stars = "*a".repeat(16) + "*b";
    assert!(calls(stars.as_bytes(), &"a".repeat(64), false) <= 100);
    let text = format!("{}/b", "a/".repeat(30));
    assert!(calls(b"**/**/**/**/**/**/**/b", &text, true) <= 100);
    assert!(calls(b"**/**/**/**/**/**/**/c", &text, false) <= 100);
    // Linear in the number of folders, however many `**/` there are.
    assert!(calls(b"**/x/**/y/**/z", &"a/".repeat(200), false) <= 1_000);
}
