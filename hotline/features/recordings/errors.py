"""Errors of the recordings desk: who may play a recording, and what can be played.
(No such recording, and a row that is not in the state a change needs, are the ledger's:
RecordingUnknown, RecordingNotRecording in hotline/ledger/errors.py.)"""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class RecordingNotAllowed(HotlineError):
    """The person may not play (or list) this recording: a tip-off's or a complaint's is
    for leaders and auditors only, a seat plays only its own seat's calls, admins and
    liaisons none; the refusal is audited."""

    code = "recording-not-allowed"
    status: ClassVar[int] = 403


class RecordingNoReason(HotlineError):
    """Playing a recording needs a reason of at least 2 characters (it is audited)."""

    code = "recording-no-reason"
    status: ClassVar[int] = 400


class RecordingNotSaved(HotlineError):
    """Only a saved recording can be played: this one is still being recorded, failed
    (it has no audio) or was purged (its file is deleted)."""

    code = "recording-not-saved"
    status: ClassVar[int] = 409


class RecordingFileMissing(HotlineError):
    """The recording's row says saved but its file is not in the recordings folder."""

    code = "recording-file-missing"
    status: ClassVar[int] = 404
