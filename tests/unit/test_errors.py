"""Error ids: one class per id, defined once, each in the README's error table."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

import hotline
from hotline.common.errors import ConfigError, HotlineError

REPO = Path(__file__).resolve().parents[2]


def every_error_class() -> list[type[HotlineError]]:
    for module in pkgutil.walk_packages(hotline.__path__, "hotline."):
        if not module.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    found: list[type[HotlineError]] = []
    todo: list[type[HotlineError]] = [HotlineError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__module__.startswith("hotline.")]


def readme_ids() -> dict[str, str]:
    """id -> its row in the README's "Errors" table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", section,
                                                        re.MULTILINE)}


def test_every_error_class_has_its_own_id() -> None:
    """No two HotlineError classes share a code, and each defines its own code."""
    classes = every_error_class()
    by_code: dict[str, list[str]] = {}
    for cls in classes:
        assert "code" in vars(cls), f"{cls.__qualname__} has no code of its own"
        by_code.setdefault(cls.code, []).append(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}
    assert len(classes) > 40


def test_every_id_is_in_the_readme_table_and_no_other() -> None:
    """The README's Errors table lists exactly the ids of the error classes."""
    codes = {cls.code for cls in every_error_class()}
    table = readme_ids()
    assert sorted(codes - set(table)) == []
    assert sorted(set(table) - codes) == []


def test_error_classes_live_in_errors_modules() -> None:
    """Every error class is defined in an `errors` module (hotline/**/errors.py)."""
    assert [f"{c.__module__}.{c.__qualname__}" for c in every_error_class()
            if not c.__module__.endswith(".errors")] == []


def test_no_raise_site_picks_an_id() -> None:
    """No `code="..."` or `code=f"..."` is left in the code: the class is the id."""
    res = subprocess.run(["git", "grep", "-n", "-E", r"\bcode=f?[\"']", "--", "hotline"],
                         cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode in (0, 1), res.stderr
    assert res.stdout.splitlines() == []


def test_an_id_given_at_a_raise_site_is_refused() -> None:
    """HotlineError(..., code=...) is a TypeError, so a new loose id cannot creep back."""
    with pytest.raises(TypeError, match="its own class"):
        HotlineError("boom", code="made-up")


def test_config_error_lists_problems_one_a_line() -> None:
    """A ConfigError's message is its problems, one a line; `problems` keeps them (one
    text given alone is one problem)."""
    exc = ConfigError(["a.yaml:1: x: one", "a.yaml:2: y: two"])
    assert str(exc) == "a.yaml:1: x: one\na.yaml:2: y: two"
    assert exc.problems == ["a.yaml:1: x: one", "a.yaml:2: y: two"]
    assert exc.code == "config-invalid"
    assert ConfigError("one problem").problems == ["one problem"]
