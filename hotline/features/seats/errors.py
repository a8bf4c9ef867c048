"""Errors of the seats feature (seat commands)."""

from __future__ import annotations

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
