"""Accounts at work: the first start's default admin, logins (throttled, audited),
sessions held in the ledger (idle and absolute expiry by the injected clock), password
changes, API tokens. The web pages, the API and the CLI use this one object."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from hotline.core.accounts import (
    AccountRuleError,
    Person,
    SessionLimits,
    Throttle,
    password_problems,
    username,
)
from hotline.features.accounts.errors import (
    LoginFailed,
    LoginThrottled,
    PasswordRejected,
)
from hotline.features.accounts.passwords import Passwords, one_time_password
from hotline.ledger.accounts import AccountBook, SessionRow, UserRow
from hotline.ledger.store import Ledger

log = structlog.get_logger("hotline.accounts")

DEFAULT_ADMIN = "admin"
TOKEN_PREFIX = "hl_"


def secret_hash(secret: str) -> str:
    """What the ledger keeps of a session id or an API token: its SHA-256 (the secrets are
    256 random bits, so no salt or slow hash is needed, and a lookup is one index probe)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Authenticated:
    """Who made a request: by a session (with its CSRF token) or by an API token."""

    user: UserRow
    person: Person
    session: SessionRow | None = None
    token_id: int | None = None

    @property
    def must_change(self) -> bool:
        return self.user.must_change


def person_of(user: UserRow, remote_bureaus: Collection[str] = ()) -> Person:
    return Person(user.username, user.roles, user.seat, user.bureau, user.department,
                  remote=user.bureau is not None and user.bureau in remote_bureaus)


@dataclass
class Accounts:
    ledger: Ledger
    passwords: Passwords
    clock: Callable[[], datetime]
    limits: SessionLimits = field(default_factory=SessionLimits)
    throttle: Throttle = field(default_factory=Throttle)
    # The city bureaus (routing.yaml's remote groups): their people see only their bureau.
    remote_bureaus: Callable[[], Collection[str]] = lambda: ()

    @property
    def book(self) -> AccountBook:
        return AccountBook(self.ledger)

    def person(self, user: UserRow) -> Person:
        return person_of(user, self.remote_bureaus())

    async def ensure_default_admin(self, os_login: str) -> str | None:
        """On a ledger with no account at all: the default admin `admin`, bound to the OS
        account that started hotline, with a one-time password (returned, to be printed
        once; never logged) that must be changed at the first login. None: there are
        accounts already."""
        password = one_time_password()
        made = await self.book.create(
            username=DEFAULT_ADMIN, display_name="系统管理员",
            password_hash=await self.passwords.hash(password), roles={"admin", "leader"},
            actor=f"os:{os_login}", at=self.clock(), os_login=os_login, must_change=True,
            only_if_none=True)
        if made is None:
            return None
        log.warning("accounts.default_admin_created", user=DEFAULT_ADMIN, os_login=os_login,
                    hint="the one-time password was printed once; change it at first login")
        return password

    # -- logins --------------------------------------------------------------------------

    async def login(self, name: str, password: str, address: str | None,
                    ) -> tuple[str, UserRow]:
        """A session id for a good login (the cookie's value). Refused, before any password
        is checked, while the account or the address is throttled; every failure is
        audited and counted."""
        now = self.clock()
        try:
            user_name: str | None = username(name)
        except AccountRuleError:
            user_name = None
        # What the audit and the throttle call a name that is no user name: quoted, cut.
        shown = user_name or ascii(name[:40])
        keys = [f"user:{shown}", f"addr:{address or '-'}"]
        until = self.throttle.blocked_until(keys, now)
        if until is not None:
            await self.book.audit("anonymous", "login.throttled", f"user:{shown}",
                                  json.dumps({"address": address}), now)
            wait = max(1, int((until - now).total_seconds()))
            raise LoginThrottled(f"too many failed logins: try again in {wait} s",
                                 retry_after=wait)
        user = await self.book.get(user_name) if user_name else None
        good = await self.passwords.verify(user.password_hash if user else None, password)
        if not good or user is None or user.disabled:
            self.throttle.failed(keys, now)
            reason = ("unknown-user" if user is None else "disabled" if user.disabled
                      else "bad-password")
            await self.book.audit("anonymous", "login.failed", f"user:{shown}",
                                  json.dumps({"address": address, "reason": reason}), now)
            raise LoginFailed("wrong user name or password")
        self.throttle.succeeded(keys)
        session_id = secrets.token_urlsafe(32)
        await self.book.open_session(id_hash=secret_hash(session_id), user=user,
                                     csrf=secrets.token_urlsafe(32), address=address, at=now)
        return session_id, user

    async def by_session(self, session_id: str, address: str | None = None, *,
                         touch: bool = True) -> Authenticated | None:
        """The session's person, or None (unknown, ended, expired: an expiry ends it,
        audited; a disabled account). `touch`: the request is the person's own (an open
        page's event stream checking it is still alive is not, and keeps no session
        from its idle expiry)."""
        id_hash = secret_hash(session_id)
        row = await self.book.session(id_hash)
        if row is None or row.ended_at is not None:
            return None
        user = await self.book.by_id(row.user_id)
        if user is None or user.disabled:
            return None
        now = self.clock()
        from hotline.core.accounts import session_expired

        why = session_expired(row.created_at, row.last_seen_at, now, self.limits)
        if why is not None:
            await self.book.end_session(id_hash, reason=why, actor=user.username, at=now,
                                        address=address)
            return None
        if touch and now - row.last_seen_at >= self.limits.touch:
            await self.book.touch_session(id_hash, now)
        return Authenticated(user, self.person(user), session=row)

    async def by_token(self, token: str) -> Authenticated | None:
        found = await self.book.token_user(secret_hash(token))
        if found is None:
            return None
        token_row, user = found
        if user.disabled:
            return None
        now = self.clock()
        last = token_row.last_used_at
        if last is None or (now - datetime.fromisoformat(last)) >= self.limits.touch:
            await self.book.touch_token(token_row.id, now)
        return Authenticated(user, self.person(user), token_id=token_row.id)

    async def logout(self, auth: Authenticated, address: str | None) -> None:
        if auth.session is not None:
            await self.book.end_session(auth.session.id_hash, reason="logout",
                                        actor=auth.user.username, at=self.clock(),
                                        address=address)

    async def change_password(self, auth: Authenticated, current: str, new: str,
                              confirm: str | None = None) -> None:
        """The person's own change: the current password, then the rules. Their other
        sessions end; this one stays."""
        user = auth.user
        if not await self.passwords.verify(user.password_hash, current):
            await self.book.audit(user.username, "user.password_change_refused",
                                  f"user:{user.username}", "wrong current password",
                                  self.clock())
            raise PasswordRejected("the current password is wrong")
        if confirm is not None and confirm != new:
            raise PasswordRejected("the two new passwords differ")
        problems = password_problems(new, user.username)
        if new == current:
            problems.append("not the same as the current one")
        if problems:
            raise PasswordRejected("the new password needs: " + "; ".join(problems))
        await self.book.set_password(
            user.username, await self.passwords.hash(new), must_change=False,
            actor=user.username, at=self.clock(), action="user.password_changed",
            keep_session=auth.session.id_hash if auth.session else None)

    # -- API tokens ----------------------------------------------------------------------

    async def add_token(self, owner: str, name: str, actor: str) -> tuple[int, str]:
        """A new API token of `owner`: (its id, the token, shown once; only its hash is
        kept)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = await self.book.add_token(owner, name, secret_hash(token), actor=actor,
                                             at=self.clock())
        return token_id, token
