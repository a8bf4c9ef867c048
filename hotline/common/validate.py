"""The one toolkit that validates a loaded YAML document (dialplans, routing, calendar).

A Checker collects every problem about a `Sourced` document as a `Problem`
(`file:line: key.path: message`), so an administrator sees all of them at once, each at
its line. The helpers return the value when it is right and None (or the given default)
after recording why it is not. Pure: it reads nothing but the document it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from hotline.common.errors import ConfigError, YamlSyntaxError
from hotline.common.yamlsrc import PathKey, Problem, Sourced

T = TypeVar("T")
# In text an administrator wrote: no control character but tab and line breaks (YAML
# escapes such as "\x07" or "\0" make them), no lone surrogate ("\ud800"), which no
# file, log or terminal can encode.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
E = TypeVar("E", bound=ConfigError)


def kind(value: Any) -> str:
    """What a value is, in an administrator's words."""
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


class Checker:
    """Collects the problems of one document."""

    def __init__(self, source: Sourced) -> None:
        self.source = source
        self.problems: list[Problem] = []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def error(self, path: PathKey, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(self.source.filename, self.source.line_of(path), path,
                                     message, severity))

    def warning(self, path: PathKey, message: str) -> None:
        self.error(path, message, "warning")

    def raise_if_errors(self, error: type[E]) -> None:
        """Raise `error` listing every problem, if any is an error."""
        if self.errors:
            raise error(self.problems)

    # -- shapes -----------------------------------------------------------------------------

    def mapping(self, value: Any, path: PathKey, what: str, *,
                absent_ok: bool = False) -> dict[str, Any] | None:
        """`value` if it is a mapping; `{}` for None when `absent_ok`."""
        if value is None and absent_ok:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"{what} must be a mapping, not {kind(value)}")
            return None
        return value

    def unknown_keys(self, data: Mapping[str, Any], allowed: Iterable[str], path: PathKey,
                     expected: str | None = None) -> None:
        """Every key of `data` not in `allowed` is an error at that key."""
        allowed = set(allowed)
        hint = expected or f"one of: {', '.join(sorted(allowed))}"
        for key in data:
            if key not in allowed:
                self.error((*path, key), f"unknown key (expected {hint})")

    def required(self, data: Mapping[str, Any], key: str, path: PathKey,
                 why: str = "") -> bool:
        if key in data and data[key] is not None:
            return True
        self.error(path, f"required key '{key}' is missing{why}")
        return False

    # -- scalars ----------------------------------------------------------------------------

    def text(self, value: Any, path: PathKey, what: str | None = None) -> str | None:
        """Text; a number is read as its text unless YAML changed it (0551 is octal)."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.error(path, f"{what + ' ' if what else ''}must be text, not {kind(value)}")
            return None
        if self.misread(value, path):
            return None
        text = str(value)
        bad = _BAD_TEXT.search(text)
        if bad is not None:
            char = bad.group()
            why = ("a lone surrogate, which is not a character: write the character itself"
                   if 0xD800 <= ord(char) <= 0xDFFF else "a control character")
            self.error(path, f"{what + ' ' if what else ''}holds U+{ord(char):04X}, {why}")
            return None
        return text

    def misread(self, value: Any, path: PathKey) -> bool:
        """Report text that YAML read as a different number (0551 is octal 361)."""
        written = self.source.written.get(path)
        if written is None or isinstance(value, str):
            return False
        self.error(path, f"YAML reads {written} as the number {value}: write \"{written}\" "
                   "(in quotes) to keep it as written")
        return True

    def number(self, value: Any, path: PathKey, low: float, high: float, *,
               unit: str = "", default: float | None = None) -> float | None:
        """A number from `low` to `high` (`unit`: what it counts, e.g. "seconds")."""
        what = f"a number of {unit}" if unit else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(path, f"must be {what} from {low:g} to {high:g}, not {kind(value)}")
            return default
        if not low <= value <= high:
            self.error(path, f"must be {what} from {low:g} to {high:g}, not {value:g}")
            return default
        return float(value)

    def integer(self, value: Any, path: PathKey, low: int, high: int, *,
                default: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be a whole number from {low} to {high}, not {kind(value)}")
            return default
        if not low <= value <= high:
            self.error(path, f"must be a whole number from {low} to {high}, not {value}")
            return default
        return value

    def boolean(self, value: Any, path: PathKey, default: bool = False) -> bool:
        if not isinstance(value, bool):
            self.error(path, "must be true or false")
            return default
        return value

    def choice(self, value: Any, path: PathKey, choices: Sequence[str], what: str,
               ) -> str | None:
        """One of `choices`: `unknown <what> 'x' (expected one of: ...)` otherwise."""
        text = str(value)
        if text not in choices:
            self.error(path, f"unknown {what} '{text}' (expected one of: "
                       f"{', '.join(choices)})")
            return None
        return text


def syntax_problems(exc: YamlSyntaxError) -> list[Problem]:
    """The problem of a YAML syntax error, to list with a file's other problems."""
    return [p if isinstance(p, Problem) else Problem(exc.filename, exc.line, (), str(p))
            for p in exc.problems]
