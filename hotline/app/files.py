"""The mode of every file and folder a hotline process creates."""

from __future__ import annotations

import os

# Every file hotline creates is its owner's only: the ledger and its -wal/-shm files,
# recordings, exports and copies hold reporters' numbers and voices. What Asterisk must
# read (prompt audio, its configuration) gets its mode explicitly where it is written.
UMASK = 0o077


def private_files() -> None:
    """Files and folders this process creates from now on are 0600 / 0700."""
    os.umask(UMASK)
