"""Errors of the calls feature: test calls and the calls export."""

from __future__ import annotations

from hotline.common.errors import HotlineError


class TestCallError(HotlineError):
    """The test call could not be placed or did not go as expected."""

    code = "test-call-failed"


class TestCallNoLedgerRow(TestCallError):
    """The test call has no final ledger row: is the service running on this Asterisk and ledger?"""

    code = "test-call-no-ledger-row"


class ExportTargetExists(HotlineError):
    """The export's --output file exists already (never replaced)."""

    code = "export-target-exists"
