"""Domain errors with stable ids: the base, and the errors of configuration and arguments.

The id (`code`) is what logs, API answers and tests match on; the message is for people.
Each id is one class, with its `code` as a class attribute, defined once: the base and the
configuration errors here, the others in the `errors` module of their package
(hotline/pbx/errors.py, hotline/ledger/errors.py, hotline/features/*/errors.py). The
README's "Errors" table lists every id; tests/unit/test_errors.py keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class HotlineError(Exception):
    """Base error: a stable `code` (its class's), a human message, optional details."""

    code: ClassVar[str] = "hotline-error"

    def __init__(self, message: str, **details: Any) -> None:
        if "code" in details:
            # One id, one class: a raise site that picks its own id would make two
            # conditions share an id (or one condition have two).
            raise TypeError(f"{type(self).__name__}: give the error its own class instead "
                            "of passing it a code")
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details

    def __str__(self) -> str:
        return self.message


class ConfigError(HotlineError):
    """A configuration file, variable or command argument is invalid; `problems` lists
    every finding, one line each (`file:line: key.path: message` for a file)."""

    code = "config-invalid"

    def __init__(self, problems: str | Sequence[str], **details: Any) -> None:
        # The items may be yamlsrc.Problem objects: text that also knows its file and line.
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems), **details)


# -- configuration files (`file:line: key.path: message`) ----------------------------------


class YamlSyntaxError(ConfigError):
    """The text is not valid YAML, or uses a construct hotline refuses (duplicate keys,
    merge keys, more nesting or alias expansion than a configuration needs, a file too
    big). Loaders of one kind of file re-raise it as their own error (RoutingInvalid...)."""

    code = "yaml-invalid"

    def __init__(self, filename: str, line: int, message: str) -> None:
        from hotline.common.yamlsrc import Problem

        super().__init__([Problem(filename, line, (), message)])
        self.filename = filename
        self.line = line
        self.problem = message


class DialplanInvalid(ConfigError):
    """A dialplan file (dialplans/*.yaml) has errors."""

    code = "dialplan-invalid"


class DialplanMissing(ConfigError):
    """The dialplan named on the command line (--line) is not among the loaded ones."""

    code = "dialplan-missing"


class RoutingInvalid(ConfigError):
    """config/routing.yaml has errors."""

    code = "routing-invalid"


class RoutingMissing(ConfigError):
    """A command needs config/routing.yaml (seats, queues) and there is none."""

    code = "routing-missing"


class CalendarInvalid(ConfigError):
    """config/calendar.yaml has errors."""

    code = "calendar-invalid"


class QualityPlanInvalid(ConfigError):
    """config/quality.yaml (the quality review's sampling plan and form) has errors."""

    code = "quality-plan-invalid"


class KbWordsInvalid(ConfigError):
    """The knowledge base's search words (kb.dictionary: the tax terms' user dictionary,
    kb.synonyms: the synonym groups) have errors, each at its file and line."""

    code = "kb-words-invalid"


class SettingsNotFound(ConfigError):
    """The settings file named by --config or $HOTLINE_CONFIG does not exist."""

    code = "config-not-found"


class AmiNoSecret(ConfigError):
    """No ami.secret is set and the embedded sandbox has not generated one yet."""

    code = "ami-no-secret"


class DemoSeatsInvalid(ConfigError):
    """sandbox.demo_seats names a seat routing.yaml does not have, or a remote one."""

    code = "demo-seats-invalid"


# -- command arguments (shown like configuration problems: exit status 2) ------------------


class BadDates(ConfigError):
    """--from/--to: the end is before the start, or the span is too long."""

    code = "bad-dates"


class BadQuarter(ConfigError):
    """--quarter is not a quarter like 2026Q4."""

    code = "bad-quarter"


class BadKeys(ConfigError):
    """--keys holds a character that is not a telephone key."""

    code = "bad-keys"


class BadNumber(ConfigError):
    """A phone number argument is not 3 to 20 digits."""

    code = "bad-number"
