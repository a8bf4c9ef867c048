"""The first voice menu: welcome, `1` for the centre's queue, `0` or nothing for goodbye.

Pure. The YAML dialplan engine supersedes it; until then it is the whole IVR.
"""

from __future__ import annotations

from dataclasses import dataclass

WELCOME = "welcome"
GOODBYE = "goodbye"
READ_TIMEOUT_MS = 5000
CENTER_QUEUE = "center"


@dataclass(frozen=True)
class ToQueue:
    queue: str


@dataclass(frozen=True)
class Goodbye:
    prompt: str = GOODBYE


MenuAction = ToQueue | Goodbye


def choose(digits: str | None) -> MenuAction:
    """What the caller's key means at the welcome menu."""
    if digits == "1":
        return ToQueue(CENTER_QUEUE)
    return Goodbye()
