"""The bad-input corpus against `hotline check` (in process): every malformed dialplan,
routing and calendar file gets its `file:line:` error, exit status 1, no traceback, in
bounded time; and what the limits accept compiles and lints fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.badinput.corpus import HERE, Case, cases, path_of
from tests.cli import REPO, hotline

CASES = cases()


def test_the_corpus_holds_at_least_60_files_as_corpus_py_makes_them() -> None:
    """At least 60 malformed files, of the three kinds; the committed ones are byte for
    byte what tests/badinput/corpus.py makes (`python -m tests.badinput.corpus`)."""
    assert len(CASES) >= 60
    assert {kind for kind, _ in CASES} == {"dialplan", "routing", "calendar"}
    for (kind, name), case in CASES.items():
        if not case.big:
            assert path_of(kind, name).read_bytes() == case.data, f"{kind}/{name}"
    committed = {(p.parent.name, p.stem) for p in HERE.glob("*/*.yaml")}
    assert committed == {key for key, case in CASES.items() if not case.big}


def _file(kind: str, name: str, case: Case, tmp_path: Path) -> Path:
    if not case.big:
        return path_of(kind, name)
    made = tmp_path / f"{name}.yaml"
    made.write_bytes(case.data)
    return made


def _check(kind: str, file: Path) -> tuple[int, str, str, float]:
    """`hotline check` with `file` as the dialplan, routing.yaml or calendar.yaml."""
    env = {"routing": {"HOTLINE_ROUTING_PATH": str(file)},
           "calendar": {"HOTLINE_CALENDAR_PATH": str(file)}}.get(kind, {})
    args = ["check", str(file)] if kind == "dialplan" else ["check"]
    started = time.monotonic()
    res = hotline(*args, env=env)
    return res.returncode, res.stdout, res.stderr, time.monotonic() - started


@pytest.mark.parametrize(("kind", "name"), list(CASES), ids=[f"{k}/{n}" for k, n in CASES])
def test_check_names_the_file_and_line_of_each_bad_file(kind: str, name: str,
                                                        tmp_path: Path) -> None:
    """`hotline check` on a malformed file: exit status 1, no traceback, one-line errors
    of which one is `file:LINE:` at the line of the broken construct, within 10 s (30 s
    for the big ones: PyYAML reads some 100-200 KiB a second)."""
    case = CASES[kind, name]
    file = _file(kind, name, case, tmp_path)
    code, out, err, took = _check(kind, file)
    assert "Traceback" not in out + err
    assert code == 1, out + err
    assert took < (30 if case.big else 10)
    shown = {str(file), str(file.relative_to(REPO)) if file.is_relative_to(REPO) else ""}
    errors = [line for line in out.splitlines()
              if line.split(":", 1)[0] in shown and ": warning: " not in line]
    assert errors, out
    if case.line is not None:
        assert any(line.split(":")[1] == str(case.line) for line in errors), errors
    assert all(line.isprintable() for line in out.splitlines()), out


def test_the_largest_dialplan_the_limits_accept_compiles_and_lints_within_a_second(
        tmp_path: Path) -> None:
    """A dialplan at the limits (200 menus of 100 options, each going to another menu or
    hanging up), under 1 MiB, is compiled and linted in under a second (reading the YAML
    itself runs in a thread of its own on a reload)."""
    from hotline.common.yamlsrc import MAX_BYTES, load_file
    from hotline.core.ivr.dialplan import MAX_MENUS, MAX_OPTIONS, compile_source

    lines = ["dialplan: widest", "prompts:", "  p: 您好", "entry: {goto: m0}", "menus:"]
    for m in range(MAX_MENUS):
        lines.append(f"  m{m}:\n    greeting: p\n    on_exhausted: hangup\n    options:")
        lines.append('      "0": hangup')
        lines += [f'      "{o if o < 10 else f"1{o}"}": {{goto: m{(m * 7 + o) % MAX_MENUS}}}'
                  for o in range(1, MAX_OPTIONS)]
    path = tmp_path / "widest.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size < MAX_BYTES
    source = load_file(path)
    started = time.monotonic()
    plan, problems = compile_source(source, None)
    took = time.monotonic() - started
    assert plan is not None, [p for p in problems if p.severity == "error"][:3]
    assert len(plan.menus) == MAX_MENUS
    assert took < 1.0, f"{took:.2f} s"
