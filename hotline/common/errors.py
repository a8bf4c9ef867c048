"""Domain errors with stable ids.

The id (`code`) is what logs, API answers and tests match on; the message is for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HotlineError(Exception):
    """Base error: a stable `code`, a human message and optional structured details."""

    code: str = "hotline-error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details: Mapping[str, Any] = details

    def __str__(self) -> str:
        return self.message


class ConfigError(HotlineError):
    """A configuration file or variable is invalid; `problems` lists every finding."""

    code = "config-invalid"

    def __init__(self, problems: list[str], *, code: str | None = None) -> None:
        self.problems = problems
        super().__init__("\n".join(problems), code=code)
