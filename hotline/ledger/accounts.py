"""Staff accounts in the ledger: users (Argon2 hashes, never a password), their roles, the
OS login an account is bound to (for the CLI staff commands), web sessions and API tokens
(only SHA-256 hashes of their secrets). Every change is audited with the acting person,
in the transaction of the change."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.ledger import audit
from hotline.ledger.errors import OsLoginTaken, TokenUnknown, UserExists, UserUnknown
from hotline.ledger.store import Ledger, iso

_USER_COLUMNS = ("id, username, display_name, password_hash, must_change, seat, bureau, "
                 "department, os_login, disabled, created_at, updated_at")


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    password_hash: str
    must_change: bool
    seat: str | None
    bureau: str | None
    department: str | None
    os_login: str | None
    disabled: bool
    created_at: str
    updated_at: str
    roles: frozenset[str]

    def public(self) -> dict[str, Any]:
        """The account as listings and the API show it: no hash."""
        out = asdict(self)
        del out["password_hash"]
        out["roles"] = sorted(self.roles)
        return out


@dataclass(frozen=True)
class SessionRow:
    id_hash: str
    user_id: int
    csrf: str
    address: str | None
    created_at: datetime
    last_seen_at: datetime
    ended_at: str | None


@dataclass(frozen=True)
class TokenRow:
    id: int
    user_id: int
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class AccountBook:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # -- users ---------------------------------------------------------------------------

    async def count(self) -> int:
        async with self.ledger.db.execute("SELECT COUNT(*) FROM users") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def get(self, username: str) -> UserRow | None:
        return await _user(self.ledger.db, "username = ?", username)

    async def by_id(self, user_id: int) -> UserRow | None:
        return await _user(self.ledger.db, "id = ?", user_id)

    async def by_os_login(self, login: str) -> UserRow | None:
        return await _user(self.ledger.db, "os_login = ?", login)

    async def must(self, username: str) -> UserRow:
        user = await self.get(username)
        if user is None:
            raise UserUnknown(f"no user {username!r} (see `hotline users list`)")
        return user

    async def listing(self) -> list[UserRow]:
        async with self.ledger.db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username") as cur:
            rows = await cur.fetchall()
        return [await _with_roles(self.ledger.db, row) for row in rows]

    async def create(self, *, username: str, display_name: str, password_hash: str,
                     roles: Collection[str], actor: str, at: datetime,
                     seat: str | None = None, bureau: str | None = None,
                     department: str | None = None, os_login: str | None = None,
                     must_change: bool = True, only_if_none: bool = False) -> UserRow | None:
        """A new account, audited as user.add. With `only_if_none`, only while the ledger
        has no account at all (the default admin of a first start): None if it has one."""
        stamp = iso(at)
        async with self.ledger.transaction() as db:
            if only_if_none:
                async with db.execute("SELECT COUNT(*) FROM users") as cur:
                    row = await cur.fetchone()
                if row and row[0]:
                    return None
            if await _user(db, "username = ?", username) is not None:
                raise UserExists(f"there is a user {username!r} already")
            await _free_os_login(db, os_login, None)
            cur = await db.execute(
                "INSERT INTO users (username, display_name, password_hash, must_change, "
                "seat, bureau, department, os_login, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (username, display_name, password_hash, int(must_change), seat, bureau,
                 department, os_login, stamp, stamp))
            user_id = int(cur.lastrowid or 0)
            await db.executemany("INSERT INTO user_roles (user_id, role) VALUES (?, ?)",
                                 [(user_id, r) for r in sorted(roles)])
            await audit.record(db, at=at, actor=actor, action="user.add",
                               target=f"user:{username}", detail=json.dumps({
                                   "roles": sorted(roles), "seat": seat, "bureau": bureau,
                                   "department": department, "os_login": os_login},
                                   ensure_ascii=False))
            user = await _user(db, "id = ?", user_id)
        return user

    async def set_password(self, username: str, password_hash: str, *, must_change: bool,
                           actor: str, at: datetime, action: str,
                           keep_session: str | None = None) -> None:
        """A new password hash (user.passwd: reset by an admin, a one-time password;
        user.password_changed: by the person). Every session of the person ends but
        `keep_session` (the one that changed it)."""
        async with self.ledger.transaction() as db:
            user = await _must(db, username)
            await db.execute("UPDATE users SET password_hash = ?, must_change = ?, "
                             "updated_at = ? WHERE id = ?",
                             (password_hash, int(must_change), iso(at), user.id))
            await _end_sessions(db, user.id, at, "password", keep=keep_session)
            await audit.record(db, at=at, actor=actor, action=action,
                               target=f"user:{username}")

    async def set_roles(self, username: str, roles: Collection[str], *, actor: str,
                        at: datetime) -> UserRow:
        async with self.ledger.transaction() as db:
            user = await _must(db, username)
            await db.execute("DELETE FROM user_roles WHERE user_id = ?", (user.id,))
            await db.executemany("INSERT INTO user_roles (user_id, role) VALUES (?, ?)",
                                 [(user.id, r) for r in sorted(roles)])
            await db.execute("UPDATE users SET updated_at = ? WHERE id = ?",
                             (iso(at), user.id))
            await audit.record(db, at=at, actor=actor, action="user.roles",
                               target=f"user:{username}", detail=json.dumps(
                                   {"old": sorted(user.roles), "new": sorted(roles)}))
            return await _must(db, username)

    async def edit(self, username: str, changes: dict[str, str | None], *, actor: str,
                   at: datetime) -> UserRow:
        """Change display_name, seat, bureau, department or os_login (audited with the old
        and new values)."""
        allowed = {"display_name", "seat", "bureau", "department", "os_login"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot edit {sorted(unknown)}")
        async with self.ledger.transaction() as db:
            user = await _must(db, username)
            if "os_login" in changes:
                await _free_os_login(db, changes["os_login"], user.id)
            old = {k: getattr(user, k) for k in changes}
            sets = ", ".join(f"{k} = ?" for k in changes)
            await db.execute(f"UPDATE users SET {sets}, updated_at = ? WHERE id = ?",
                             (*changes.values(), iso(at), user.id))
            await audit.record(db, at=at, actor=actor, action="user.edit",
                               target=f"user:{username}", detail=json.dumps(
                                   {"old": old, "new": changes}, ensure_ascii=False))
            return await _must(db, username)

    async def set_disabled(self, username: str, disabled: bool, *, actor: str,
                           at: datetime) -> UserRow:
        """Disable (every session ends; its tokens stop working) or enable an account."""
        async with self.ledger.transaction() as db:
            user = await _must(db, username)
            await db.execute("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?",
                             (int(disabled), iso(at), user.id))
            if disabled:
                await _end_sessions(db, user.id, at, "disabled")
            await audit.record(db, at=at, actor=actor,
                               action="user.disable" if disabled else "user.enable",
                               target=f"user:{username}")
            return await _must(db, username)

    async def audit(self, actor: str, action: str, target: str, detail: str | None,
                    at: datetime) -> None:
        async with self.ledger.transaction() as db:
            await audit.record(db, at=at, actor=actor, action=action, target=target,
                               detail=detail)

    # -- web sessions --------------------------------------------------------------------

    async def open_session(self, *, id_hash: str, user: UserRow, csrf: str,
                           address: str | None, at: datetime) -> None:
        """A session after a good login, audited as login (in one transaction)."""
        stamp = iso(at)
        async with self.ledger.transaction() as db:
            await db.execute("INSERT INTO web_sessions (id_hash, user_id, csrf, address, "
                             "created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (id_hash, user.id, csrf, address, stamp, stamp))
            await audit.record(db, at=at, actor=user.username, action="login",
                               target=f"user:{user.username}",
                               detail=json.dumps({"address": address}))

    async def session(self, id_hash: str) -> SessionRow | None:
        async with self.ledger.db.execute(
                "SELECT id_hash, user_id, csrf, address, created_at, last_seen_at, ended_at "
                "FROM web_sessions WHERE id_hash = ?", (id_hash,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return SessionRow(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]),
                          datetime.fromisoformat(row[5]), row[6])

    async def touch_session(self, id_hash: str, at: datetime) -> None:
        async with self.ledger.transaction() as db:
            await db.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ? "
                             "AND ended_at IS NULL", (iso(at), id_hash))

    async def end_session(self, id_hash: str, *, reason: str, actor: str, at: datetime,
                          address: str | None = None) -> None:
        """End one session (logout, idle, absolute), audited as logout or session.expired."""
        async with self.ledger.transaction() as db:
            cur = await db.execute("UPDATE web_sessions SET ended_at = ?, end_reason = ? "
                                   "WHERE id_hash = ? AND ended_at IS NULL",
                                   (iso(at), reason, id_hash))
            if cur.rowcount:
                await audit.record(db, at=at, actor=actor,
                                   action="logout" if reason == "logout" else
                                   "session.expired", target=f"user:{actor}",
                                   detail=json.dumps({"reason": reason,
                                                      "address": address}))

    # -- API tokens ----------------------------------------------------------------------

    async def add_token(self, username: str, name: str, token_hash: str, *, actor: str,
                        at: datetime) -> int:
        async with self.ledger.transaction() as db:
            user = await _must(db, username)
            cur = await db.execute("INSERT INTO api_tokens (user_id, name, token_hash, "
                                   "created_at) VALUES (?, ?, ?, ?)",
                                   (user.id, name, token_hash, iso(at)))
            token_id = int(cur.lastrowid or 0)
            await audit.record(db, at=at, actor=actor, action="token.add",
                               target=f"token:{token_id}", detail=json.dumps(
                                   {"user": username, "name": name}, ensure_ascii=False))
            return token_id

    async def revoke_token(self, token_id: int, *, actor: str, at: datetime,
                           owner: str | None = None) -> TokenRow:
        """Revoke a token (of `owner` only, when given: a person revoking their own)."""
        async with self.ledger.transaction() as db:
            token = await _token(db, token_id)
            if token is None or (owner is not None and
                                 (await _must(db, owner)).id != token.user_id):
                raise TokenUnknown(f"no API token {token_id}")
            await db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND "
                             "revoked_at IS NULL", (iso(at), token_id))
            await audit.record(db, at=at, actor=actor, action="token.revoke",
                               target=f"token:{token_id}")
            revoked = await _token(db, token_id)
            assert revoked is not None
            return revoked

    async def token_user(self, token_hash: str) -> tuple[TokenRow, UserRow] | None:
        """The live token with this hash and its user (None: no such token, or revoked)."""
        async with self.ledger.db.execute(
                "SELECT id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        token = await _token(self.ledger.db, row[0])
        if token is None:
            return None
        user = await self.by_id(token.user_id)
        return (token, user) if user is not None else None

    async def touch_token(self, token_id: int, at: datetime) -> None:
        async with self.ledger.transaction() as db:
            await db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                             (iso(at), token_id))

    async def tokens(self, username: str | None = None) -> list[tuple[str, TokenRow]]:
        """(owner, token), all of them or one person's."""
        query = ("SELECT u.username, t.id FROM api_tokens t JOIN users u ON u.id = "
                 "t.user_id" + (" WHERE u.username = ?" if username else "") +
                 " ORDER BY t.id")
        async with self.ledger.db.execute(query, (username,) if username else ()) as cur:
            rows = await cur.fetchall()
        out = []
        for owner, token_id in rows:
            token = await _token(self.ledger.db, token_id)
            if token is not None:
                out.append((str(owner), token))
        return out


async def _user(db: aiosqlite.Connection, where: str, value: object) -> UserRow | None:
    async with db.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE {where}",
                          (value,)) as cur:
        row = await cur.fetchone()
    return await _with_roles(db, row) if row is not None else None


async def _with_roles(db: aiosqlite.Connection, row: Any) -> UserRow:
    async with db.execute("SELECT role FROM user_roles WHERE user_id = ?", (row[0],)) as cur:
        roles = frozenset(r[0] for r in await cur.fetchall())
    return UserRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7],
                   row[8], bool(row[9]), row[10], row[11], roles)


async def _must(db: aiosqlite.Connection, username: str) -> UserRow:
    user = await _user(db, "username = ?", username)
    if user is None:
        raise UserUnknown(f"no user {username!r} (see `hotline users list`)")
    return user


async def _free_os_login(db: aiosqlite.Connection, login: str | None,
                         user_id: int | None) -> None:
    if login is None:
        return
    holder = await _user(db, "os_login = ?", login)
    if holder is not None and holder.id != user_id:
        raise OsLoginTaken(f"the OS login {login!r} is bound to {holder.username!r} already "
                           "(one OS account acts as one person)")


async def _end_sessions(db: aiosqlite.Connection, user_id: int, at: datetime, reason: str,
                        keep: str | None = None) -> None:
    await db.execute("UPDATE web_sessions SET ended_at = ?, end_reason = ? WHERE user_id = ? "
                     "AND ended_at IS NULL AND id_hash IS NOT ?",
                     (iso(at), reason, user_id, keep))


async def _token(db: aiosqlite.Connection, token_id: int) -> TokenRow | None:
    async with db.execute("SELECT id, user_id, name, created_at, last_used_at, revoked_at "
                          "FROM api_tokens WHERE id = ?", (token_id,)) as cur:
        row = await cur.fetchone()
    return TokenRow(*row) if row is not None else None
