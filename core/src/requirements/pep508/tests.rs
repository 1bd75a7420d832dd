use super::*;

fn ok(text: &str) -> Requirement<'_> {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn err(text: &str) -> SyntaxError {
    parse(text).expect_err(text)
}

#[test]
fn accepts_pep_508() {
    for text in [
        "h2o-wave",
        "h2o_wave==1.8.16",
        "h2o-wave == 1.8.16",
        "A.B-C_D",
        "requests[security,socks]>=2.8.1,==2.8.*",
        "requests [security] (>= 2.8.1, == 2.8.*)",
        "pandas>=1.0,<3",
        "numpy ; python_version < \"3.12\"",
        "numpy>=1.26; python_version >= '3.9' and (sys_platform == 'linux' or os_name != 'nt')",
        "pywin32 ; platform_system in 'Windows Darwin'",
        "x ; 'a' not in extra",
        "x ; os.name == 'posix'",
        "pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee9982d4bbb3c72346a6de940a148ea686",
        "pip @ https://example.com/p.whl ; python_version >= '3'",
        "name @ file:///tmp/x.whl",
        "x===1.0-whatever",
        "x~=1.8",
        "x!=1.5.*",
        "x[]",
        "x ()",
        "x>=1.0, ; os_name == 'nt'",
        "x==2.1.0+cpu",
        "x==1.0a1.post2.dev3+local",
        "\tx\t",
    ] {
        ok(text);
    }
    // Lines from real requirements files, each accepted by `packaging`
    // (the reference implementation pip uses).
    for text in [
        "torch==2.1.0+cpu",
        "pandas>=1.3; python_version>='3.8'",
        "numpy>=1.21,<2.0",
        "scikit-learn~=1.3.0",
        "h2o_wave==0.26.3",
        "boto3==1.28.*",
        "tensorflow-cpu==2.13.0 ; sys_platform != \"darwin\"",
        "Django>=3.2,<4.0",
        "uvicorn[standard]>=0.20",
        "pywin32>=306; platform_system==\"Windows\"",
        "importlib-metadata; python_version<\"3.8\"",
        "requests>=2.0 ;python_version>\"2.7\"",
        "zope.interface",
        "certifi>=2017.4.17",
        "foo == 1.0.post1",
        "foo>=1.0.0rc1",
        "typing_extensions>=4.0; python_version < \"3.11\"",
        "apache-airflow[celery,postgres]==2.7.0",
        "foo; python_full_version >= \"3.8.1\"",
        "foo; extra == \"test\"",
        "foo (>=1.0)",
        "pkg-name === 1.0",
        "foo; python_version in \"3.8 3.9\"",
        "foo; \"3.8\" <= python_version",
        "foo ; python_version >= \"3\" and python_version < \"4\" or os_name == \"nt\"",
        "foo[bar]@https://example.com/foo.zip",
        "foo>=1.0,!=1.5.*,<2",
        "foo<=1!2.0",
        "foo>1.0.dev0",
        "Foo_Bar.baz>=0",
        "foo==1.0; (os_name==\"nt\" or sys_platform==\"win32\") and python_version>\"3\"",
    ] {
        ok(text);
    }
}

#[test]
fn keeps_what_the_checks_use() {
    let r = ok("h2o-wave[ml] >=0.26, <1.0");
    assert_eq!(r.name, "h2o-wave");
    let ops: Vec<_> = r.specifiers.iter().map(|s| s.op).collect();
    assert_eq!(ops, [">=", "<"]);
    assert_eq!(r.specifiers[1].version.as_ref().unwrap().release, [1, 0]);
    assert_eq!(
        ok("x @ https://e.com/x.whl").url,
        Some("https://e.com/x.whl")
    );
    assert!(ok("x==1.*").specifiers[0].wildcard);
}

#[test]
fn finds_requirements_run_together() {
    for (text, second, offset) in [
        ("numpy pandas", "pandas", 6),
        ("h2o-wave==1.8.16 pandas==2.2.0", "pandas", 17),
        ("numpy>=1.0, pandas", "pandas", 12),
        ("numpy>=1.0 pandas ; python_version > '3'", "pandas", 11),
    ] {
        let e = err(text);
        assert_eq!(
            (e.run_together.as_deref(), e.offset),
            (Some(second), offset),
            "{text}"
        );
    }
}

#[test]
fn points_at_the_problem() {
    for (text, offset, message) in [
        ("", 0, "expected a package name, found the end of the line"),
        ("==1.0", 0, "expected a package name, found `=`"),
        (
            "-pkg",
            0,
            "a package name `-pkg` must start and end with a letter or digit",
        ),
        (
            "pkg-",
            0,
            "a package name `pkg-` must start and end with a letter or digit",
        ),
        ("pkg==", 5, "expected a version after `==`"),
        ("pkg==1.x", 5, "`1.x` is not a version"),
        ("pkg===1.0", 5, ""),
        (
            "pkg>=1.*",
            5,
            "`>=1.*`: only `==` and `!=` take a `.*` wildcard",
        ),
        (
            "pkg~=1",
            3,
            "`~=1` needs at least two numbers, e.g. `~=1.0`",
        ),
        ("pkg>=1,<", 8, "expected a version after `<`"),
        (
            "pkg>=1, @",
            8,
            "expected a version clause such as `<2` after `,`, found `@`",
        ),
        (
            "pkg[a b]",
            6,
            "expected `,` or `]` in the extras, found `b`",
        ),
        ("pkg (>=1", 8, "expected `)`, found the end of the line"),
        ("pkg ; ", 6, "expected an environment marker after `;`"),
        (
            "pkg ; python_version",
            20,
            "expected a comparison (`==`, `<`, `in`, …) in the marker, found the end of the line",
        ),
        (
            "pkg ; python_version > 3.8",
            23,
            "`3.8` is not an environment marker variable (e.g. python_version, sys_platform); quote values: \"3.8\"",
        ),
        (
            "pkg ; python_version > '3.8",
            23,
            "this string in the marker is not closed",
        ),
        (
            "pkg @ ",
            6,
            "expected a URL after `@` (e.g. `https://…` or `file:…`)",
        ),
        (
            "pkg @ nowhere",
            6,
            "expected a URL after `@` (e.g. `https://…` or `file:…`)",
        ),
        ("pkg==1.0)", 8, "unexpected `)`"),
        (
            "pkg=1.0",
            3,
            "`=` alone is not a comparison: pin a version with `==`",
        ),
    ] {
        if message.is_empty() {
            ok(text);
            continue;
        }
        let e = err(text);
        assert_eq!((e.offset, e.message.as_str()), (offset, message), "{text}");
        assert_eq!(e.run_together, None, "{text}");
    }
}
