"""Errors of the reports feature's API (call history, reports and exports)."""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class ApiBadQuery(HotlineError):
    """A query parameter of an API route is missing, unknown or not of its form (a date,
    a number, a queue of routing.yaml, a cursor this search gave out ...)."""

    code = "api-bad-query"
    status: ClassVar[int] = 400
