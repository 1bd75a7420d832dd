"""q8s's reading of requirements.txt against `packaging`, the reference implementation pip uses:
on thousands of generated PEP 508 lines, a line q8s calls a syntax error must be one packaging
refuses too (a false error would block a valid app from bundling), and the lines packaging
refuses should be flagged by q8s as well."""

from __future__ import annotations

import random
from pathlib import Path

import q8s
from packaging.requirements import InvalidRequirement, Requirement

NAMES = ["foo", "h2o-wave", "Foo_Bar.baz", "a", "x1", "-bad", "bad-", "zope.interface", "9lives"]
EXTRAS = ["", "[x]", "[x,y]", "[ x , y ]", "[]", "[x y]", "[,]"]
OPERATORS = ["==", "!=", "<=", ">=", "<", ">", "~=", "===", "=", ""]
VERSIONS = ["1.0", "1.0.*", "1", "2.0rc1", "1!2", "1.0+local", "v1.0", "1.x", "", "1.0.post1"]
MARKERS = [
    "",
    ' ; python_version >= "3.8"',
    "; sys_platform=='linux'",
    " ; python_version > 3.8",
    ' ; os_name == "nt" and extra == "t"',
    ' ; (python_version < "3")',
    ' ; foo == "x"',
    ";",
    ' ; python_version >= "3.8" or',
    ' ; "a" not in extra',
]
SYNTAX = {"requirement-syntax", "requirements-run-together"}


def generated_lines(count: int) -> list[str]:
    rng = random.Random(11)
    lines: list[str] = []
    for _ in range(count):
        spec = ""
        for k in range(rng.choice([0, 1, 1, 2])):
            spec += "," if k else rng.choice(["", " "])
            spec += rng.choice(OPERATORS) + rng.choice(["", " "]) + rng.choice(VERSIONS)
        if rng.random() < 0.1:
            spec = f" ({spec.strip()})"
        line = rng.choice(NAMES) + rng.choice(EXTRAS) + spec + rng.choice(MARKERS)
        if rng.random() < 0.05:
            line += " " + rng.choice(NAMES[:4])
        lines.append(line.strip())
    # Lines starting with `-` are options, and `#` starts comments: not requirements.
    return list(dict.fromkeys(ln for ln in lines if ln and ln[0] != "-" and "#" not in ln))


def packaging_accepts(line: str) -> bool:
    try:
        Requirement(line)
    except InvalidRequirement:
        return False
    return True


def test_syntax_errors_agree_with_packaging(tmp_path: Path) -> None:
    lines = generated_lines(3000)
    assert len(lines) > 2000
    (tmp_path / "q-app.toml").write_text(
        '[App]\nName = "a"\nVersion = "1.0.0"\n[Runtime]\nModule = "main"\n'
    )
    (tmp_path / "main.py").write_text("")
    (tmp_path / "requirements.txt").write_text("\n".join(lines) + "\n")
    try:
        diagnostics = q8s.validate(tmp_path).diagnostics
    except q8s.ManifestError as e:
        diagnostics = e.diagnostics
    flagged = {d.line for d in diagnostics if d.code in SYNTAX}
    refused_by_q8s = {line for n, line in enumerate(lines, 1) if n in flagged}
    refused_by_packaging = {line for line in lines if not packaging_accepts(line)}
    assert sorted(refused_by_q8s - refused_by_packaging) == []
    # A trailing ` -word` is read as an option (a warning), not a syntax error.
    missed = sorted(refused_by_packaging - refused_by_q8s)
    assert all(" -" in line for line in missed), missed[:10]
    assert len(refused_by_packaging) > 500
