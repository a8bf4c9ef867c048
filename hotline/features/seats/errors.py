"""Errors of the seats feature (seat commands)."""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class SeatError(HotlineError):
    """A seat command is invalid (base of the seat errors)."""

    code = "seat-command-invalid"


class SeatUnknown(SeatError):
    """config/routing.yaml has no seat with that id."""

    code = "seat-unknown"


class SeatBadReason(SeatError):
    """The pause reason is neither a code nor a label of routing.yaml's pause_reasons."""

    code = "seat-bad-reason"


class SeatNotLoggedIn(SeatError):
    """A seat that is not logged in cannot pause or unpause."""

    code = "seat-not-logged-in"


class SeatNotRemote(SeatError):
    """Only remote seats of a city bureau move in and out."""

    code = "seat-not-remote"


class SeatBadUntil(SeatError):
    """--until goes with move-in only and must be in the future."""

    code = "seat-bad-until"


class SeatBadSkill(SeatError):
    """A skill for today names no queue of routing.yaml, a level outside 1-9, or a queue
    a remote seat cannot join without a change of routing.yaml (its bureau's region
    queue for it is not in queues.conf)."""

    code = "seat-bad-skill"


class SeatOnNoCall(SeatError):
    """Listen, whisper or barge: the seat is on no call now (nothing to spy on)."""

    code = "seat-on-no-call"
    status: ClassVar[int] = 409


class SpyNotRunning(SeatError):
    """Stop a listen, whisper or barge: none that this service started on the seat is
    running (it ended with the seat's call, or the leader hung up)."""

    code = "spy-not-running"
    status: ClassVar[int] = 409


class SpyPhoneInvalid(SeatError):
    """Listen, whisper or barge: the leader's phone is missing (no seat of their own and
    none given), not a device of routing.yaml, or the seat's own."""

    code = "spy-phone-invalid"
