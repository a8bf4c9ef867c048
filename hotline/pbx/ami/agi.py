"""Results of AGI commands: a FastAGI socket's lines, or as carried by `Event: AsyncAGIExec`
(Asterisk >= 12)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

_RESULT = re.compile(r"^(?P<code>[0-9]{3})[ -]?(?P<rest>.*)$", re.S)
_KV = re.compile(r"(\w+)=(\S*)")
DTMF_KEYS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class AgiResult:
    """`200 result=49 (timeout) endpos=1234` -> code 200, result '49', data 'timeout'."""

    code: int
    result: str | None
    data: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200 and self.result != "-1"

    @property
    def hangup(self) -> bool:
        """The channel hung up (result=-1 or 511 dead channel) while the command ran."""
        return self.code == 511 or (self.code == 200 and self.result == "-1")

    @property
    def digit(self) -> str | None:
        """The key pressed, for commands that return an ASCII code (WAIT FOR DIGIT, ...)."""
        if self.code != 200 or self.result is None:
            return None
        # Only a DTMF key: a garbled result (a huge number, a control code) is no key,
        # and must not raise (chr() of a huge number would) in the middle of a menu.
        if not self.result.isascii() or not self.result.isdigit() or len(self.result) > 3:
            return None
        key = chr(int(self.result))
        return key if key in DTMF_KEYS else None


def parse_agi_result(encoded: str) -> AgiResult:
    """Parse the URL-encoded `Result` header of an AsyncAGIExec event."""
    return parse_agi_line(unquote(encoded))


def parse_agi_line(text: str) -> AgiResult:
    """Parse one AGI result as Asterisk writes it (a FastAGI socket's line, or the
    decoded Result of an AsyncAGIExec event)."""
    raw = text.strip()
    match = _RESULT.match(raw)
    if match is None:
        return AgiResult(code=0, result=None, raw=raw)
    code = int(match.group("code"))
    rest = match.group("rest").strip()
    result: str | None = None
    data: str | None = None
    extra: dict[str, str] = {}
    if code == 200:
        paren = re.search(r"\((.*?)\)", rest)
        if paren is not None:
            data = paren.group(1)
            rest = rest[: paren.start()] + rest[paren.end() :]
        for key, value in _KV.findall(rest):
            if key == "result":
                result = value
            else:
                extra[key] = value
    return AgiResult(code=code, result=result, data=data, extra=extra, raw=raw)


def quote_agi_arg(text: str) -> str:
    """One AGI command argument, double-quoted, for prompts and paths with spaces."""
    if any(c in text for c in "\r\n"):
        raise ValueError("an AGI argument cannot contain a line break")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
