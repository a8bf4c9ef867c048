"""Staff accounts as rules: the roles, what each may do, who sees which bureau, the
password and name rules, when a session has expired and when logins are throttled.

Pure: no I/O, no clock (every time is an argument), no hashing (that is the accounts
feature's, with argon2-cffi). The web pages, the REST API and the CLI staff commands
all decide with these functions, so a role means the same everywhere.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

# The centre's roles (12366: 专员, 专家, 班长, remote bureau seats, business departments).
ROLES: Final[Mapping[str, str]] = {
    "seat": "座席",  # their own state and calls (centre or a city bureau)
    "expert": "专家",  # a seat that also takes the difficult questions passed on to it
    "leader": "班长",  # the whole floor
    "liaison": "联络员",  # a department or city bureau answering work orders passed to it
    "admin": "管理员",  # accounts, configuration views
    "auditor": "审计员",  # may unmask a reporter's record, always audited
}

# What each permission needs: any one of these roles. One table for the CLI staff
# commands and the API, so that `hotline orders close` and its API call agree.
PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    "users.manage": frozenset({"admin"}),
    "tokens.own": frozenset(ROLES),  # every person may hold API tokens of their own
    "ledger.read": frozenset({"seat", "expert", "leader", "auditor"}),
    "ledger.export": frozenset({"leader", "auditor"}),
    "ledger.unmask": frozenset({"auditor"}),
    "orders.read": frozenset({"seat", "expert", "leader", "liaison", "auditor"}),
    "orders.change": frozenset({"seat", "expert", "leader", "liaison"}),  # answer, delay
    # the centre's own work on orders: open, edit, pass on, close, (not) difficult
    "orders.manage": frozenset({"seat", "expert", "leader"}),
    "orders.remind": frozenset({"leader"}),  # 催办: remind whoever must answer
    "orders.callback": frozenset({"leader"}),  # abandoned calls, and their 回拨 orders
    "seats.read": frozenset({"seat", "expert", "leader", "admin"}),
    "seats.own": frozenset({"seat", "expert", "leader"}),  # log in, pause: one's own seat
    "seats.any": frozenset({"leader"}),  # any seat, moves in and out
    "voicemail.handle": frozenset({"seat", "expert", "leader"}),
    "reports.read": frozenset({"leader", "admin", "auditor"}),
    "config.read": frozenset({"admin", "leader"}),  # the configuration in force
    # the knowledge base: everyone of the centre reads it; seats (and a city bureau's
    # seats, for their city) draft, experts review, leaders publish and withdraw
    "kb.read": frozenset({"seat", "expert", "leader", "liaison", "admin", "auditor"}),
    "kb.draft": frozenset({"seat", "expert", "leader"}),
    "kb.review": frozenset({"expert"}),
    "kb.publish": frozenset({"leader"}),
    # seat conversation recordings: leaders, auditors and experts list and play them, a
    # seat its own seat's (core.recordings.may_play decides each play: tip-offs and
    # complaints only leaders and auditors); admins and leaders purge what is due
    "recordings.read": frozenset({"seat", "expert", "leader", "auditor"}),
    "recordings.purge": frozenset({"admin", "leader"}),
    # quality review (质检): leaders and experts review the drawn calls (and read every
    # review); leaders add any call to the queue and run a day's draw; a seat reads its
    # own seat's reviews (the quality desk limits it); auditors read them all
    "quality.read": frozenset({"seat", "expert", "leader", "auditor"}),
    "quality.review": frozenset({"expert", "leader"}),
    "quality.pick": frozenset({"leader"}),
    "quality.draw": frozenset({"leader", "admin"}),
}

USERNAME = re.compile(r"[a-z][a-z0-9._-]{0,31}")
MIN_PASSWORD = 10
MAX_PASSWORD = 128
MAX_DISPLAY_NAME = 50


class AccountRuleError(ValueError):
    """A name, a role or a password that breaks the rules (the message says which)."""


@dataclass(frozen=True)
class Person:
    """Who is acting, as the rules see them."""

    username: str
    roles: frozenset[str]
    seat: str | None = None  # their seat id (routing.yaml), for seats and experts
    bureau: str | None = None  # their group (routing.yaml): the centre or a city bureau
    department: str | None = None  # the department whose work orders a liaison answers
    remote: bool = False  # their bureau is a city bureau (remote seats)

    def may(self, permission: str) -> bool:
        return allowed(self.roles, permission)


def allowed(roles: Collection[str], permission: str) -> bool:
    """Does any of `roles` grant `permission`? An unknown permission grants nothing."""
    needed = PERMISSIONS.get(permission)
    return needed is not None and not needed.isdisjoint(roles)


def visible_bureau(person: Person) -> str | None:
    """The one bureau whose seats and orders `person` sees, or None for all of them:
    remote-bureau people see only their own bureau unless they are leaders."""
    if person.remote and "leader" not in person.roles:
        return person.bureau
    return None


def username(text: str) -> str:
    """A login name: lower-case ASCII letters, digits, '.', '_', '-', a letter first, at
    most 32 characters (case is folded: Zhang and zhang are one person)."""
    name = text.strip().lower()
    if not USERNAME.fullmatch(name):
        raise AccountRuleError(
            f"{text!r} is not a user name: 1 to 32 characters, letters a-z, digits, '.', "
            "'_' or '-', starting with a letter")
    return name


def roles(texts: Iterable[str]) -> frozenset[str]:
    """Roles given as names (seat, leader ...) or their labels (座席, 班长 ...)."""
    by_label = {label: role for role, label in ROLES.items()}
    out: set[str] = set()
    for raw in texts:
        text = raw.strip()
        if not text:
            continue
        role = text.lower() if text.lower() in ROLES else by_label.get(text)
        if role is None:
            raise AccountRuleError(f"unknown role {text!r} (roles: {', '.join(ROLES)})")
        out.add(role)
    return frozenset(out)


def role_problems(granted: Collection[str], *, seat: str | None, bureau: str | None,
                  department: str | None) -> list[str]:
    """What an account with these roles lacks: a seat needs its seat id; a liaison its
    department or bureau; nobody is without a role."""
    problems = []
    if not granted:
        problems.append("an account needs at least one role (roles: "
                        f"{', '.join(ROLES)})")
    if {"seat", "expert"} & set(granted) and seat is None:
        problems.append("a seat or an expert needs its seat id (--seat, from routing.yaml)")
    if "liaison" in granted and department is None and bureau is None:
        problems.append("a liaison needs the department (--department) or the bureau "
                        "(--bureau) whose work orders it answers")
    return problems


def password_problems(password: str, user: str) -> list[str]:
    """Why a new password is refused (none: it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"at most {MAX_PASSWORD} characters")
    if password.strip() != password:
        problems.append("no space at the start or the end")
    if len(set(password)) < 4:
        problems.append("at least 4 different characters")
    if user and user.lower() in password.lower():
        problems.append("not containing the user name")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        problems.append("no control characters")
    return problems


def display_name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > MAX_DISPLAY_NAME or any(ord(c) < 32 for c in name):
        raise AccountRuleError(f"a name is 1 to {MAX_DISPLAY_NAME} characters of one line")
    return name


# -- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta = timedelta(minutes=30)  # no request for this long: logged out
    absolute: timedelta = timedelta(hours=12)  # a shift: then log in again, whatever
    # last_seen is written at most this often (a request does not cost a ledger write)
    touch: timedelta = timedelta(seconds=60)


def session_expired(created: datetime, last_seen: datetime, now: datetime,
                    limits: SessionLimits) -> str | None:
    """Why a session is over at `now` ('idle', 'absolute'), or None while it holds."""
    if now - created >= limits.absolute:
        return "absolute"
    if now - last_seen >= limits.idle:
        return "idle"
    return None


# -- login throttling -------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int = 5  # failures of one account within `window`
    per_address: int = 20  # failures from one address within `window`
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)  # refused this long after the limit
    keys: int = 10_000  # at most this many accounts and addresses remembered


@dataclass
class Throttle:
    """Failed logins per account and per address in a sliding window: past the limit,
    every login of that account (or from that address) is refused until the lockout ends,
    before any password is checked. Bounded: it remembers at most `limits.keys` keys."""

    limits: ThrottleLimits = field(default_factory=ThrottleLimits)
    # Least recently failed first: when full, a key that is not blocked is forgotten
    # first, so a flood of new names or addresses cannot free a blocked account.
    _failures: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)

    def _key_limit(self, key: str) -> int:
        return self.limits.per_account if key.startswith("user:") else \
            self.limits.per_address

    def blocked_until(self, keys: Iterable[str], now: datetime) -> datetime | None:
        """When a login by these keys (user:NAME, addr:IP) may be tried again; None: now."""
        until = None
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self._key_limit(key):
                end = times[-1] + self.limits.lockout
                if end > now and (until is None or end > until):
                    until = end
        return until

    def failed(self, keys: Iterable[str], now: datetime) -> None:
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                if len(self._failures) >= self.limits.keys:
                    self._evict()
                times = self._failures[key] = deque()
            self._failures.move_to_end(key)
            times.append(now)
            while len(times) > self._key_limit(key):
                times.popleft()

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key.startswith("user:"):
                self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = now - max(self.limits.window, self.limits.lockout)
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _evict(self) -> None:
        """Forget one key: the least recently failed one that is not blocked (looking
        at the 64 oldest; all blocked: the oldest)."""
        for checked, (key, times) in enumerate(self._failures.items()):
            if checked >= 64:
                break
            if len(times) < self._key_limit(key):
                del self._failures[key]
                return
        self._failures.popitem(last=False)
