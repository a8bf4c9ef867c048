"""Errors of quality review (质检): who may review or read what, and which calls can be
drawn and reviewed. (A second review of one call is the ledger's: QualityReviewed in
hotline/ledger/errors.py.)"""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class QualityNotAllowed(HotlineError):
    """The person may not do this with that call or review: a seat reads only its own
    seat's reviews, nobody reviews a call of their own seat; the refusal is audited."""

    code = "quality-not-allowed"
    status: ClassVar[int] = 403


class QualityNotAnswered(HotlineError):
    """No call with that linkedid was answered by a seat: only answered calls are drawn
    and reviewed."""

    code = "quality-not-answered"
    status: ClassVar[int] = 404


class QualityAlreadyDrawn(HotlineError):
    """A leader picked a call that is drawn for review already (by the plan or a leader)."""

    code = "quality-already-drawn"
    status: ClassVar[int] = 409


class QualityNotDrawn(HotlineError):
    """The call is not drawn for review: a leader adds it first (`hotline quality pick`)."""

    code = "quality-not-drawn"
    status: ClassVar[int] = 409


class QualityBadScore(HotlineError):
    """A review's scores do not fit the form: an item missing, unknown, not a number or
    outside 0 to its maximum (each named), or a comment too long."""

    code = "quality-bad-score"
    status: ClassVar[int] = 400


class QualityReviewUnknown(HotlineError):
    """No review with that id."""

    code = "quality-review-unknown"
    status: ClassVar[int] = 404

