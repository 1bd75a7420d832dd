use super::*;

const FILES: &[&str] = &[
    "requirements.txt",
    "app.py",
    "wheels/my_pkg-1.0-py3-none-any.whl",
    "wheels/h2o_wave-1.8.16-py3-none-manylinux_2_17_x86_64.whl",
    "wheels/bad.whl",
    "constraints.txt",
    "libs/mylib/pyproject.toml",
    "vendor/pkg-1.0.tar.gz",
];

fn check(text: &str) -> Vec<Diagnostic> {
    let files: BTreeSet<&str> = FILES.iter().copied().collect();
    check_requirements(text, &files)
}

/// `(code, line, column)` of every finding.
fn found(text: &str) -> Vec<(String, u32, u32)> {
    check(text)
        .into_iter()
        .map(|d| (d.code, d.line.unwrap_or(0), d.column.unwrap_or(0)))
        .collect()
}

fn codes(text: &str) -> Vec<String> {
    check(text).into_iter().map(|d| d.code).collect()
}

#[test]
fn what_real_apps_write_is_understood_and_not_flagged() {
    let text = "\u{feff}# The app's packages
h2o-wave==1.8.16   # pinned
pandas>=2.0,<3 ; python_version >= \"3.10\"
numpy ; sys_platform == 'linux' and platform_machine == 'x86_64'
requests[security] >= 2.31 \\
    --hash=sha256:942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1 \\
    --hash sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f
toml
-c constraints.txt
--index-url https://pypi.org/simple
--extra-index-url=https://example.com/simple
-f ./wheels
--find-links https://example.com/links/
--no-index
--pre
--prefer-binary
--only-binary :all:
--trusted-host example.com
-e ./libs/mylib
-e .
./wheels/my_pkg-1.0-py3-none-any.whl
wheels/my_pkg-1.0-py3-none-any.whl ; python_version >= '3'
file:wheels/my_pkg-1.0-py3-none-any.whl
my_pkg @ file:wheels/my_pkg-1.0-py3-none-any.whl
vendor/pkg-1.0.tar.gz
./libs/mylib
private-pkg==${PRIVATE_PKG_VERSION}

";
    assert_eq!(found(text), []);
}

#[test]
fn syntax_errors_point_at_their_line_and_column() {
    let text = "h2o-wave==1.8.16\npandas=2.0\n  numpy==1.x\nflask ; python_version > 3.8\n";
    let d = check(text);
    let got: Vec<_> = d
        .iter()
        .map(|d| (d.code.as_str(), d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "requirement-syntax",
                Some(2),
                Some(7),
                "requirements.txt line 2: `=` alone is not a comparison: pin a version with `==`"
            ),
            (
                "requirement-syntax",
                Some(3),
                Some(10),
                "requirements.txt line 3: `1.x` is not a version"
            ),
            (
                "requirement-syntax",
                Some(4),
                Some(26),
                "requirements.txt line 4: `3.8` is not an environment marker variable (e.g. python_version, sys_platform); quote values: \"3.8\""
            ),
        ]
    );
    assert!(
        d.iter()
            .all(|d| d.path == "requirements.txt" && d.is_error())
    );
}

#[test]
fn two_requirements_on_one_line() {
    assert_eq!(
        found("h2o-wave==1.8.16 pandas==2.2.0\nnumpy scipy\n"),
        [
            ("requirements-run-together".into(), 1, 18),
            ("requirements-run-together".into(), 2, 7)
        ]
    );
    let d = &check("numpy scipy\nh2o-wave\n")[0];
    assert_eq!(
        d.message,
        "requirements.txt line 1 holds two requirements: `scipy` starts before the first one ends"
    );
}

#[test]
fn continuations_keep_the_first_line_and_the_real_column() {
    // The problem is on the second physical line of a continued line.
    assert_eq!(
        found("h2o-wave\npandas>=2.0, \\\n  <3, =1\n"),
        [("requirement-syntax".into(), 3, 7)]
    );
    // A comment ends a line, even after a backslash.
    assert_eq!(found("h2o-wave # note \\\nnumpy\n"), []);
    // Continuation at the end of the file.
    assert_eq!(found("h2o-wave \\"), []);
}

#[test]
fn wheels_must_be_well_named_and_bundled() {
    assert_eq!(
        found(
            "h2o-wave\nwheels/bad.whl\nwheels/other-1.0-py3-none-any.whl\n/abs/x-1.0-py3-none-any.whl\n../up-1.0-py3-none-any.whl\nwheels/no-version-here-py3-none-any.whl\n"
        ),
        [
            ("wheel-name-invalid".into(), 2, 1),
            ("wheel-missing".into(), 3, 1),
            ("wheel-path-invalid".into(), 4, 1),
            ("wheel-path-invalid".into(), 5, 1),
            ("wheel-name-invalid".into(), 6, 1),
            ("wheel-missing".into(), 6, 1),
        ]
    );
    // wheels/bad.whl is in the bundle: only its name is wrong.
    let d = &check("h2o-wave\nwheels/bad.whl\n")[0];
    assert_eq!(
        d.message,
        "requirements.txt line 2 names wheel \"wheels/bad.whl\", whose file name does not have the five or six parts separated by `-` a wheel name has"
    );
    assert_eq!(
        wheel_name_problem("x-1.0-b1-py3-none-any.whl"),
        Some("has a build tag that does not start with a digit")
    );
    assert_eq!(wheel_name_problem("x-1.0-1b2-py3-none-any.whl"), None);
    assert_eq!(
        wheel_name_problem("x-1.x-py3-none-any.whl"),
        Some("does not have a valid version as its second part")
    );
}

#[test]
fn local_paths_must_be_in_the_bundle() {
    assert_eq!(
        found(
            "h2o-wave\n-r other.txt\n-c ../constraints.txt\n-e ./libs/missing\n./src/pkg\n-f wheelhouse/\nfile:///opt/x.tar.gz\nvendor/missing-1.0.tar.gz\n"
        ),
        [
            ("local-path-missing".into(), 2, 4),
            ("local-path-invalid".into(), 3, 4),
            ("local-path-missing".into(), 4, 4),
            ("local-path-missing".into(), 5, 1),
            ("local-path-missing".into(), 6, 4),
            ("local-path-invalid".into(), 7, 1),
            ("local-path-missing".into(), 8, 1),
        ]
    );
    // A folder given to -r is not a requirements file.
    assert_eq!(codes("h2o-wave\n-r libs/mylib\n"), ["local-path-missing"]);
}

#[test]
fn direct_urls_are_warnings() {
    let text = "h2o-wave\nhttps://example.com/pkg-1.0-py3-none-any.whl\nmypkg @ git+https://github.com/me/mypkg@v1.0\n-e git+https://github.com/me/lib.git#egg=lib\n-r https://example.com/req.txt\n";
    assert_eq!(
        found(text),
        [
            ("direct-url".into(), 2, 1),
            ("direct-url".into(), 3, 9),
            ("direct-url".into(), 4, 4),
            ("direct-url".into(), 5, 4),
        ]
    );
    assert!(check(text).iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn unknown_options_are_warnings_and_values_are_required() {
    assert_eq!(
        found("h2o-wave --hash=sha256:abc --frobnicate\n--upgrade\n-r\n--index-url\n"),
        [
            ("requirements-option-unknown".into(), 1, 28),
            ("requirements-option-unknown".into(), 2, 1),
            ("requirement-syntax".into(), 3, 1),
            ("requirement-syntax".into(), 4, 1),
        ]
    );
}

#[test]
fn h2o_wave_missing_is_a_note_unless_another_file_may_name_it() {
    let d = check("pandas\n");
    assert_eq!(
        (d[0].code.as_str(), d[0].severity, d[0].line),
        ("wave-missing", Severity::Note, None)
    );
    assert_eq!(codes(""), ["wave-missing"]);
    assert_eq!(codes("-r constraints.txt\n"), Vec::<String>::new());
    assert_eq!(codes("H2O_Wave>=1.0\n"), Vec::<String>::new());
    assert_eq!(codes("h2o.wave[ml]\n"), Vec::<String>::new());
    // A bundled wheel of h2o-wave counts.
    assert_eq!(
        codes("wheels/h2o_wave-1.8.16-py3-none-manylinux_2_17_x86_64.whl\n"),
        Vec::<String>::new()
    );
}

#[test]
fn old_h2o_wave_pins_get_a_note_about_constraints() {
    let d = check("toml\nh2o-wave==0.26.4\n");
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].code.as_str(), d[0].severity, d[0].line, d[0].column),
        ("wave-constrained", Severity::Note, Some(2), Some(1))
    );
    assert_eq!(
        d[0].message,
        "requirements.txt line 2: `h2o-wave==0.26.4` allows only h2o-wave releases before 1.8.6: these releases leave Starlette open and call `Router(on_startup=…)`, which Starlette 1.0 removed"
    );
    assert!(
        d[0].help
            .as_deref()
            .unwrap()
            .contains("q8s installs these releases with known-good upper bounds (`starlette<1`)")
    );
    assert_eq!(codes("h2o-wave~=1.7.0\n"), ["wave-constrained"]);
    assert_eq!(codes("h2o-wave==1.8.16\n"), Vec::<String>::new());
    assert_eq!(codes("h2o-wave>=0.26\n"), Vec::<String>::new());
    // The app bounds Starlette itself: nothing to say.
    assert_eq!(
        codes("h2o-wave==1.5.1\nstarlette<1\n"),
        Vec::<String>::new()
    );
}

#[test]
fn names_are_normalised() {
    assert_eq!(normalize("H2O_Wave"), "h2o-wave");
    assert_eq!(normalize("h2o.-_wave"), "h2o-wave");
}

#[test]
fn columns_count_characters() {
    // "éé" is 2 characters, 4 bytes.
    assert_eq!(
        found("h2o-wave\npkg ; os_name == \"éé\" and x\n"),
        [("requirement-syntax".into(), 2, 27)]
    );
}
