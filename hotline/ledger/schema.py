"""Versioned schema of the ledger database. A migration is appended, never edited: an
older ledger file is upgraded in place at start, never rebuilt."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: calls
    """
    CREATE TABLE calls (
        linkedid        TEXT PRIMARY KEY,
        caller_number   TEXT,
        caller_name     TEXT,
        started_at      TEXT NOT NULL,
        queued_at       TEXT,
        answered_at     TEXT,
        ended_at        TEXT,
        state           TEXT NOT NULL,
        digits          TEXT NOT NULL DEFAULT '',
        queue           TEXT,
        seat            TEXT,
        seats_no_answer TEXT NOT NULL DEFAULT '',
        wait_seconds    REAL,
        talk_seconds    REAL,
        outcome         TEXT,
        end_reason      TEXT,
        updated_at      TEXT NOT NULL
    );
    CREATE INDEX calls_started_at ON calls (started_at);
    CREATE INDEX calls_open ON calls (ended_at) WHERE ended_at IS NULL;
    """,
    # 2: what the IVR learnt: the menus walked, the call's category and topic
    """
    ALTER TABLE calls ADD COLUMN ivr_path TEXT NOT NULL DEFAULT '';
    ALTER TABLE calls ADD COLUMN category TEXT;
    ALTER TABLE calls ADD COLUMN topic TEXT;
    ALTER TABLE calls ADD COLUMN dialplan TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
