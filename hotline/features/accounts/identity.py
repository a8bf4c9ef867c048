"""Who a CLI staff command acts as: the hotline user bound to the OS account that runs it
(its real uid, via pwd: no environment variable can change it), checked against the same
roles as the API. The audit trail then names that person, never `root`.

A ledger that has no account at all (one the service never ran on since accounts came:
the first start creates the default admin) keeps the old rule: the OS account itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

from hotline.core.accounts import Person
from hotline.features import cli_support
from hotline.features.accounts.errors import StaffNotAllowed, StaffUnbound
from hotline.features.cli_support import Context


@dataclass(frozen=True)
class Acting:
    """The acting person of a command: `name` for the records and the audit; `person`
    None only on a ledger without accounts."""

    name: str
    person: Person | None

    def may(self, permission: str) -> bool:
        return self.person is None or self.person.may(permission)

    def unmask_users(self, configured: Collection[str]) -> set[str]:
        """Who may unmask, for the ledger's Reader: ledger.unmask_users, and this person
        if an auditor."""
        out = set(configured)
        if self.person is not None and self.person.may("ledger.unmask"):
            out.add(self.name)
        return out


def acting(ctx: Context, permission: str, target: str = "") -> Acting:
    """The person running this command, allowed `permission` (else StaffNotAllowed, the
    refusal audited; an OS account bound to nobody: StaffUnbound)."""
    login = cli_support.os_account()  # looked up at the call (tests act as others)
    path = ctx.ledger_path
    if not path.exists():
        return Acting(login, None)  # the command itself says there is no ledger
    return asyncio.run(_acting(ctx, login, permission, target))


def acting_person(ctx: Context, permission: str, target: str, needs: str) -> Person:
    """The person running this command, allowed `permission`, for a command that cannot
    run without staff accounts: StaffUnbound saying so when the ledger has none yet
    (`needs`: what needs them and why, e.g. "recordings need staff accounts (...)")."""
    who = acting(ctx, permission, target)
    if who.person is None:
        raise StaffUnbound(f"{needs}: an admin starts them with `hotline users init`")
    return who.person


async def _acting(ctx: Context, login: str, permission: str, target: str) -> Acting:
    from hotline.common.clock import utc_now
    from hotline.features.accounts.service import person_of
    from hotline.ledger.accounts import AccountBook
    from hotline.ledger.store import Ledger

    async with await Ledger.open(ctx.ledger_path) as ledger:
        book = AccountBook(ledger)
        if await book.count() == 0:
            return Acting(login, None)
        user = await book.by_os_login(login)
        if user is None or user.disabled:
            state = "a disabled user" if user is not None else "no hotline user"
            raise StaffUnbound(
                f"the OS account {login!r} is bound to {state}: an admin binds it with "
                f"`hotline users edit NAME --os-login {login}`")
        routing = ctx.routing()
        remote = ({g for g, group in routing.groups.items() if group.remote}
                  if routing is not None else set())
        person = person_of(user, remote)
        if not person.may(permission):
            await book.audit(user.username, "staff.refused", target or permission,
                             f"{permission} (os:{login})", utc_now())
            from hotline.core.accounts import PERMISSIONS

            raise StaffNotAllowed(
                f"{user.username} (OS account {login}) may not do this: it needs the role "
                f"{' or '.join(sorted(PERMISSIONS.get(permission, ())))} "
                f"(has: {', '.join(sorted(user.roles)) or 'none'})")
        return Acting(user.username, person)
