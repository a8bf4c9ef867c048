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
    # 3: voicemail and work orders (登记表)
    """
    CREATE TABLE work_orders (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        kind            TEXT NOT NULL,
        source          TEXT NOT NULL UNIQUE,
        linkedid        TEXT,
        callback_number TEXT,
        caller_name     TEXT,
        category        TEXT,
        content         TEXT NOT NULL DEFAULT '',
        department      TEXT,
        difficulty      TEXT NOT NULL DEFAULT 'ordinary',
        created_at      TEXT NOT NULL,
        due_at          TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'open',
        passed_on_at    TEXT,
        closed_at       TEXT,
        note            TEXT
    );
    CREATE INDEX work_orders_open ON work_orders (status, due_at);
    CREATE TABLE voicemails (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid         TEXT NOT NULL,
        caller_number    TEXT,
        caller_name      TEXT,
        box              TEXT NOT NULL,
        file             TEXT NOT NULL UNIQUE,
        started_at       TEXT NOT NULL,
        ended_at         TEXT,
        duration_seconds REAL,
        status           TEXT NOT NULL,
        flags            TEXT NOT NULL DEFAULT '',
        category         TEXT,
        topic            TEXT,
        due_at           TEXT,
        work_order_id    INTEGER REFERENCES work_orders (id),
        handled_at       TEXT,
        note             TEXT
    );
    CREATE INDEX voicemails_status ON voicemails (status, started_at);
    ALTER TABLE calls ADD COLUMN voicemail_id INTEGER;
    """,
    # 4: seats: every login, pause and move (迁入迁出) as an event, and the current state
    """
    CREATE TABLE seat_events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        seat    TEXT NOT NULL,
        at      TEXT NOT NULL,
        event   TEXT NOT NULL,
        reason  TEXT,
        until   TEXT,
        actor   TEXT NOT NULL
    );
    CREATE INDEX seat_events_seat ON seat_events (seat, at);
    CREATE INDEX seat_events_kind ON seat_events (event, at);
    CREATE TABLE seat_states (
        seat          TEXT PRIMARY KEY,
        logged_in     INTEGER NOT NULL DEFAULT 0,
        paused        TEXT,
        moved_in      INTEGER NOT NULL DEFAULT 0,
        moved_until   TEXT,
        updated_at    TEXT NOT NULL
    );
    """,
    # 5: the group of the seat that answered (the centre, or which city bureau)
    """
    ALTER TABLE calls ADD COLUMN seat_group TEXT;
    """,
    # 6: the audit trail (append-only) and work order answers and delays
    """
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      TEXT NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        detail  TEXT
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    ALTER TABLE work_orders ADD COLUMN answered_at TEXT;
    ALTER TABLE work_orders ADD COLUMN result TEXT;
    ALTER TABLE work_orders ADD COLUMN delay_notified_at TEXT;
    """,
    # 7: the caller's region (from the number: mobile segment or area code)
    """
    ALTER TABLE calls ADD COLUMN region TEXT;
    CREATE INDEX calls_region ON calls (region);
    """,
    # 8: a call's work orders of a kind (the duplicate checks of create and from_call)
    """
    CREATE INDEX work_orders_call ON work_orders (linkedid, kind);
    """,
    # 9: what the outcome was drawn from, kept so that a call adopted after a restart
    # ends as it would have: the number a call was referred to, self-service menus
    # walked, the line closed when the call came
    """
    ALTER TABLE calls ADD COLUMN referred_to TEXT;
    ALTER TABLE calls ADD COLUMN self_service INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN after_hours INTEGER NOT NULL DEFAULT 0;
    """,
    # 10: rows not from hotline's own events: a call Asterisk handled alone, written from
    # its record of calls (recorded_by asterisk_record); an end time hotline did not see
    # (end_by: asterisk_record, the record's; last_seen, the last moment it was known alive)
    """
    ALTER TABLE calls ADD COLUMN recorded_by TEXT;
    ALTER TABLE calls ADD COLUMN end_by TEXT;
    """,
    # 11: staff accounts (Argon2 hashes), their roles, web sessions and API tokens (only
    # hashes of the secrets are kept: a copy of the ledger logs nobody in)
    """
    CREATE TABLE users (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        username         TEXT NOT NULL UNIQUE,
        display_name     TEXT NOT NULL,
        password_hash    TEXT NOT NULL,
        must_change      INTEGER NOT NULL DEFAULT 1,
        seat             TEXT,
        bureau           TEXT,
        department       TEXT,
        os_login         TEXT UNIQUE,
        disabled         INTEGER NOT NULL DEFAULT 0,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE TABLE user_roles (
        user_id  INTEGER NOT NULL REFERENCES users (id),
        role     TEXT NOT NULL,
        PRIMARY KEY (user_id, role)
    );
    CREATE TABLE web_sessions (
        id_hash       TEXT PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        csrf          TEXT NOT NULL,
        address       TEXT,
        created_at    TEXT NOT NULL,
        last_seen_at  TEXT NOT NULL,
        ended_at      TEXT,
        end_reason    TEXT
    );
    CREATE INDEX web_sessions_user ON web_sessions (user_id, ended_at);
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        name          TEXT NOT NULL,
        token_hash    TEXT NOT NULL UNIQUE,
        created_at    TEXT NOT NULL,
        last_used_at  TEXT,
        revoked_at    TEXT
    );
    """,
    # 12: the 台帐 entry a seat writes for a call it took (one per call, part of the call's
    # record): category and topic as corrected, question, answer, answered on the spot or
    # a work order (difficulty, department), callback number; the draft as typed
    """
    CREATE TABLE call_entries (
        linkedid         TEXT PRIMARY KEY,
        seat             TEXT NOT NULL,
        category         TEXT,
        topic            TEXT,
        question         TEXT NOT NULL DEFAULT '',
        answer           TEXT NOT NULL DEFAULT '',
        resolution       TEXT,
        difficulty       TEXT,
        department       TEXT,
        callback_number  TEXT,
        draft            TEXT,
        draft_at         TEXT,
        saved_by         TEXT,
        saved_at         TEXT
    );
    CREATE INDEX call_entries_seat ON call_entries (seat, saved_at);
    -- the screen pop's earlier calls and open work orders of the caller's number
    CREATE INDEX calls_caller ON calls (caller_number, started_at);
    CREATE INDEX work_orders_callback ON work_orders (callback_number, status);
    """,
    # 13: a seat's skills changed for one day by a team leader (a queue added at a level,
    # or one of routing.yaml's taken away: level NULL), on top of routing.yaml
    """
    CREATE TABLE seat_skill_days (
        seat   TEXT NOT NULL,
        day    TEXT NOT NULL,
        queue  TEXT NOT NULL,
        level  INTEGER,
        actor  TEXT NOT NULL,
        at     TEXT NOT NULL,
        PRIMARY KEY (day, seat, queue)
    );
    """,
    # 14: work orders on the web: who opened an order (a seat's own orders), the bureau
    # it was passed to, when it was sent back to the centre; the history of each order
    # the pages show with who and when (reminders 催办, extensions, answers, returns); the
    # order a 台帐 entry opened
    """
    ALTER TABLE work_orders ADD COLUMN opened_by TEXT;
    ALTER TABLE work_orders ADD COLUMN bureau TEXT;
    ALTER TABLE work_orders ADD COLUMN returned_at TEXT;
    CREATE INDEX work_orders_department ON work_orders (department, status, due_at);
    CREATE INDEX work_orders_opened_by ON work_orders (opened_by, status);
    CREATE TABLE work_order_events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id  INTEGER NOT NULL REFERENCES work_orders (id),
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        note      TEXT,
        detail    TEXT
    );
    CREATE INDEX work_order_events_order ON work_order_events (order_id, action, at);
    ALTER TABLE call_entries ADD COLUMN work_order_id INTEGER REFERENCES work_orders (id);
    """,
    # 15: the knowledge base (知识库): entries and every version of each (a change is a new
    # version; the old text stays readable with who and when); the live (published)
    # version's text segmented into words for full-text search (FTS5, the words
    # space-separated: jieba's segmentation is done in Python on write and on query);
    # which entry the line played on which call and what the caller pressed after it
    """
    CREATE TABLE kb_entries (
        id          TEXT PRIMARY KEY,
        latest      INTEGER NOT NULL,
        live        INTEGER,
        created_by  TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE TABLE kb_versions (
        entry_id         TEXT NOT NULL REFERENCES kb_entries (id),
        version          INTEGER NOT NULL,
        status           TEXT NOT NULL,
        question         TEXT NOT NULL,
        phrasings        TEXT NOT NULL DEFAULT '[]',
        answer           TEXT NOT NULL,
        spoken           TEXT NOT NULL,
        topic            TEXT NOT NULL,
        scope            TEXT NOT NULL,
        source_number    TEXT,
        source_date      TEXT,
        effective_from   TEXT,
        effective_until  TEXT,
        written_by       TEXT NOT NULL,
        written_at       TEXT NOT NULL,
        note             TEXT,
        reviewed_by      TEXT,
        reviewed_at      TEXT,
        published_by     TEXT,
        published_at     TEXT,
        withdrawn_by     TEXT,
        withdrawn_at     TEXT,
        PRIMARY KEY (entry_id, version)
    );
    CREATE INDEX kb_versions_status ON kb_versions (status, topic);
    CREATE VIRTUAL TABLE kb_fts USING fts5(
        entry_id UNINDEXED, question, phrasings, answer, tokenize = 'unicode61');
    CREATE TABLE call_kb (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid     TEXT NOT NULL,
        entry_id     TEXT NOT NULL,
        version      INTEGER NOT NULL,
        at           TEXT NOT NULL,
        feedback     TEXT,
        feedback_at  TEXT
    );
    CREATE INDEX call_kb_call ON call_kb (linkedid);
    CREATE INDEX call_kb_entry ON call_kb (entry_id, at);
    """,
    # 16: the knowledge base's index words with the number of entries each is in
    # (fts5vocab, no data of its own): a search leaves out the words that are in most
    # entries, which cost the most and rank nothing (hotline.ledger.kb search)
    """
    CREATE VIRTUAL TABLE kb_vocab USING fts5vocab(kb_fts, 'row');
    """,
    # 17: seat conversation recordings: the row is written before the audio (status
    # recording), then saved or failed (with the error), purged once its category's
    # retention is past (the file deleted, the row kept with purged_at); the file name
    # holds the row's id, so no file name is ever reused (hotline.core.recordings)
    """
    CREATE TABLE recordings (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid    TEXT NOT NULL,
        file        TEXT,
        seat        TEXT,
        category    TEXT,
        status      TEXT NOT NULL DEFAULT 'recording',
        started_at  TEXT NOT NULL,
        ended_at    TEXT,
        seconds     REAL,
        error       TEXT,
        purged_at   TEXT
    );
    CREATE INDEX recordings_call ON recordings (linkedid);
    CREATE INDEX recordings_status ON recordings (status, started_at);
    CREATE UNIQUE INDEX recordings_file ON recordings (file);
    """,
    # 18: the caller's satisfaction rating (满意度评价) on the call: satisfied, fairly
    # (基本满意), unsatisfied, or none (asked, the caller hung up or pressed nothing);
    # NULL when the caller was never asked. A follow-up (回访) a leader owes a caller who
    # rated the call unsatisfied, opened and closed by a named person
    """
    ALTER TABLE calls ADD COLUMN rating TEXT;
    ALTER TABLE calls ADD COLUMN rated_at TEXT;
    CREATE INDEX calls_rating ON calls (rating, started_at) WHERE rating IS NOT NULL;
    CREATE TABLE follow_ups (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        seat        TEXT,
        opened_at   TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'open',
        closed_by   TEXT,
        closed_at   TEXT,
        note        TEXT
    );
    CREATE UNIQUE INDEX follow_ups_call ON follow_ups (linkedid, reason);
    CREATE INDEX follow_ups_open ON follow_ups (status, opened_at);
    """,
    # 19: quality review (质检): the calls drawn for review (by the sampling plan, or
    # picked by a leader, who is named) and the reviews written for them, each review's
    # item scores kept as JSON with its total and percentage (hotline.core.quality)
    """
    CREATE TABLE review_draws (
        linkedid    TEXT PRIMARY KEY,
        seat        TEXT NOT NULL,
        day         TEXT NOT NULL,
        reason      TEXT NOT NULL,
        drawn_by    TEXT NOT NULL,
        drawn_at    TEXT NOT NULL
    );
    CREATE INDEX review_draws_day ON review_draws (day, seat);
    CREATE TABLE reviews (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid    TEXT NOT NULL REFERENCES review_draws (linkedid),
        seat        TEXT NOT NULL,
        reviewer    TEXT NOT NULL,
        at          TEXT NOT NULL,
        scores      TEXT NOT NULL,
        total       REAL NOT NULL,
        maximum     INTEGER NOT NULL,
        percent     REAL NOT NULL,
        comment     TEXT
    );
    CREATE INDEX reviews_call ON reviews (linkedid, at);
    CREATE INDEX reviews_seat ON reviews (seat, at);
    """,
    # 20: callbacks that keep the caller's place (回拨): the caller's place in the queue
    # (joined_at), the number to call, the state (waiting, calling, connected, failed,
    # order) and every attempt with its result
    """
    CREATE TABLE callbacks (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        linkedid    TEXT NOT NULL UNIQUE,
        queue       TEXT NOT NULL,
        number      TEXT NOT NULL,
        joined_at   TEXT NOT NULL,
        asked_at    TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT 'waiting',
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_at     TEXT,
        done_at     TEXT,
        work_order_id INTEGER REFERENCES work_orders (id)
    );
    CREATE INDEX callbacks_waiting ON callbacks (state, queue, joined_at);
    CREATE TABLE callback_attempts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        callback_id INTEGER NOT NULL REFERENCES callbacks (id),
        at          TEXT NOT NULL,
        channel     TEXT,
        result      TEXT,
        ended_at    TEXT
    );
    CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id, at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
