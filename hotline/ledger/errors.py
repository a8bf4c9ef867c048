"""Errors of the ledger (SQLite): the file, voicemail rows, work orders, access."""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class LedgerError(HotlineError):
    """The ledger refused an operation (base of the ledger's errors)."""

    code = "ledger-error"


class LedgerTooNew(LedgerError):
    """The ledger file was written by a newer hotline (its schema is newer)."""

    code = "ledger-too-new"


class LedgerMigrationFailed(LedgerError):
    """Migrating the ledger file to the current schema failed."""

    code = "ledger-migration-failed"


class VoicemailUnknown(LedgerError):
    """No voicemail with that id in the ledger."""

    code = "voicemail-unknown"


class VoicemailNotNew(LedgerError):
    """The voicemail was handled already (it is not new)."""

    code = "voicemail-not-new"


class UnmaskRefused(HotlineError):
    """The user may not unmask reporters' numbers (ledger.unmask_users); the refusal is audited."""

    code = "unmask-not-allowed"
    status: ClassVar[int] = 403


class CallUnknown(HotlineError):
    """No call with that linkedid in the ledger."""

    code = "call-unknown"
    status: ClassVar[int] = 404  # (the API's HTTP status)


class CallNotAbandoned(HotlineError):
    """A callback (回拨) order is for a call whose caller hung up waiting (abandoned)."""

    code = "call-not-abandoned"
    status: ClassVar[int] = 409


class OrderError(HotlineError):
    """A work order request is invalid (base of the work-order errors)."""

    code = "order-invalid"


class OrderBadCallback(OrderError):
    """The callback number is not a phone number (5 to 20 digits)."""

    code = "order-bad-callback"


class OrderEmptyContent(OrderError):
    """--content is empty."""

    code = "order-empty-content"


class OrderEmptyDepartment(OrderError):
    """--department is empty."""

    code = "order-empty-department"


class OrderBadKind(OrderError):
    """The work order kind is not one that can be created."""

    code = "order-bad-kind"


class OrderNotAQuestion(OrderError):
    """Only a consultation can be a difficult question (passed on within 1 working day)."""

    code = "order-not-a-question"


class OrderDuplicate(OrderError):
    """The call already has an open work order of that kind."""

    code = "order-duplicate"
    status: ClassVar[int] = 409


class OrderNothingToEdit(OrderError):
    """An edit that changes nothing."""

    code = "order-nothing-to-edit"


class OrderClosed(OrderError):
    """The work order is closed: it cannot be edited or changed."""

    code = "order-closed"


class OrderNoDepartment(OrderError):
    """Passing an order on needs --department."""

    code = "order-no-department"


class OrderNoResult(OrderError):
    """Answering an order needs --result."""

    code = "order-no-result"


class OrderUnknown(OrderError):
    """No work order with that id."""

    code = "order-unknown"
    status: ClassVar[int] = 404


class OrderCallerNotTold(OrderError):
    """More time (an extension) is given only once the caller was told of the delay:
    `caller_told` must be true."""

    code = "order-caller-not-told"


class OrderNoReason(OrderError):
    """Asking for more time or sending an order back needs a reason."""

    code = "order-no-reason"


class OrderBadExtension(OrderError):
    """An extension is 1 to 5 working days."""

    code = "order-bad-extension"


class OrderDone(OrderError):
    """The order is answered or closed: there is nothing to remind of or extend."""

    code = "order-done"
    status: ClassVar[int] = 409


class OrderNotPassedOn(OrderError):
    """Only an order passed on to a department or bureau can be sent back to the centre."""

    code = "order-not-passed-on"
    status: ClassVar[int] = 409


class UserUnknown(LedgerError):
    """No staff account with that user name."""

    code = "user-unknown"


class UserExists(LedgerError):
    """A staff account with that user name exists already."""

    code = "user-exists"


class OsLoginTaken(LedgerError):
    """The OS login is bound to another staff account already (one OS account, one person)."""

    code = "os-login-taken"


class TokenUnknown(LedgerError):
    """No API token with that id (or not one of the person's own)."""

    code = "token-unknown"


class KbEntryUnknown(LedgerError):
    """No knowledge-base entry (or no such version of it) with that id."""

    code = "kb-entry-unknown"
    status: ClassVar[int] = 404


class KbInvalid(HotlineError):
    """A knowledge-base entry's text or facts break the rules (the message lists them)."""

    code = "kb-invalid"
    status: ClassVar[int] = 400


class KbNotAllowed(HotlineError):
    """The person may not make this change of a knowledge-base entry (review by its own
    writer, a bureau's entry by another bureau, publish without the leader's role)."""

    code = "kb-not-allowed"
    status: ClassVar[int] = 403


class KbChanged(LedgerError):
    """The entry changed meanwhile (a newer version, or its status moved on): the change
    was made against an older state and is refused."""

    code = "kb-changed"
    status: ClassVar[int] = 409


class RecordingUnknown(LedgerError):
    """No seat conversation recording with that id in the ledger."""

    code = "recording-unknown"
    status: ClassVar[int] = 404


class RecordingNotRecording(LedgerError):
    """The recording was saved, failed or purged already: its row is not overwritten
    (a second save or fail, a purge of one that is not saved)."""

    code = "recording-not-recording"
    status: ClassVar[int] = 409


class QualityReviewed(LedgerError):
    """The drawn call has a review already: each drawn call is reviewed once (two
    reviewers at once: the second is refused)."""

    code = "quality-reviewed"
    status: ClassVar[int] = 409
