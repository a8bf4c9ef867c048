"""`hotline users ...`: staff accounts (admin only; every change audited with the acting
admin), and their API tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hotline.core.accounts import (
    ROLES,
    AccountRuleError,
    display_name,
    role_problems,
    roles,
    username,
)
from hotline.features import cli_support
from hotline.features.accounts.errors import AccountError, NoAccounts
from hotline.features.cli_support import (
    Context,
    a_text,
    existing_ledger,
    positive,
    print_table,
)

if TYPE_CHECKING:
    from hotline.features.accounts.service import Accounts
    from hotline.features.cli_support import Subparsers

T = TypeVar("T")


def a_username(text: str) -> str:
    try:
        return username(a_text(text))
    except AccountRuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def a_role_list(text: str) -> frozenset[str]:
    try:
        return roles(a_text(text).replace("，", ",").split(","))
    except AccountRuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def a_display_name(text: str) -> str:
    try:
        return display_name(a_text(text))
    except AccountRuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Subparsers) -> None:
    users = sub.add_parser("users", help="staff accounts and roles (admin only)")
    usub = users.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    init = usub.add_parser("init", help="create the default admin if there is no account "
                           "yet (as the service's first start does)")
    init.set_defaults(handler=cmd_init)
    ulist = usub.add_parser("list", help="every account, its roles, seat and bureau")
    ulist.add_argument("--json", action="store_true")
    ulist.set_defaults(handler=cmd_users)
    add = usub.add_parser("add", help="a new account; prints its one-time password once")
    add.add_argument("user", type=a_username)
    add.add_argument("--roles", required=True, type=a_role_list, metavar="ROLE[,ROLE]",
                     help=f"of {', '.join(ROLES)}")
    _account_fields(add)
    add.set_defaults(handler=cmd_users)
    passwd = usub.add_parser("passwd", help="a new one-time password (printed once); the "
                             "person's sessions end, it must be changed at the next login")
    passwd.add_argument("user", type=a_username)
    passwd.set_defaults(handler=cmd_users)
    rls = usub.add_parser("roles", help="set the roles of an account")
    rls.add_argument("user", type=a_username)
    rls.add_argument("roles", type=a_role_list, metavar="ROLE[,ROLE]",
                     help=f"of {', '.join(ROLES)}")
    rls.set_defaults(handler=cmd_users)
    for name, text in (("disable", "disable an account (its sessions end, its tokens stop)"),
                       ("enable", "enable a disabled account")):
        cmd = usub.add_parser(name, help=text)
        cmd.add_argument("user", type=a_username)
        cmd.set_defaults(handler=cmd_users)
    edit = usub.add_parser("edit", help="name, seat, bureau, department, OS login")
    edit.add_argument("user", type=a_username)
    _account_fields(edit)
    edit.add_argument("--no-os-login", action="store_true", help="unbind the OS login")
    edit.set_defaults(handler=cmd_users)
    token = usub.add_parser("token", help="API tokens for scripts")
    tsub = token.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    tadd = tsub.add_parser("add", help="a new token of a user; printed once")
    tadd.add_argument("user", type=a_username)
    tadd.add_argument("--name", required=True, type=a_text, help="what the token is for")
    tadd.set_defaults(handler=cmd_users)
    trevoke = tsub.add_parser("revoke", help="revoke a token (by its id)")
    trevoke.add_argument("id", type=positive)
    trevoke.set_defaults(handler=cmd_users)
    tlist = tsub.add_parser("list", help="tokens (never their value)")
    tlist.add_argument("user", nargs="?", type=a_username)
    tlist.add_argument("--json", action="store_true")
    tlist.set_defaults(handler=cmd_users)


def _account_fields(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--name", dest="display_name", type=a_display_name,
                     help="the person's name (e.g. 张敏)")
    cmd.add_argument("--seat", type=a_text, help="their seat id (routing.yaml)")
    cmd.add_argument("--bureau", type=a_text, help="their group (routing.yaml): the centre "
                     "or a city bureau (default: the seat's)")
    cmd.add_argument("--department", type=a_text,
                     help="the department whose work orders a liaison answers")
    cmd.add_argument("--os-login", type=a_text, metavar="LOGIN",
                     help="the OS account whose CLI staff commands act as this person")


def _run(ctx: Context, work: Callable[[Accounts], Awaitable[T]], *,
         create: bool = False) -> T:
    from hotline.common.clock import utc_now
    from hotline.features.accounts.passwords import Passwords
    from hotline.features.accounts.service import Accounts
    from hotline.ledger.store import Ledger

    path = ctx.ledger_path if create else existing_ledger(ctx)

    async def go() -> T:
        async with await Ledger.open(path) as ledger:
            return await work(Accounts(ledger, Passwords(), utc_now))

    return asyncio.run(go())


def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    async def work(accounts: Accounts) -> str | None:
        return await accounts.ensure_default_admin(cli_support.os_account())

    password = _run(ctx, work, create=True)
    if password is None:
        print("there are accounts already: nothing created (`hotline users list`)")
        return 0
    print_default_admin(password, cli_support.os_account())
    return 0


def print_default_admin(password: str, login: str) -> None:
    """The one time the default admin's password is shown (never logged)."""
    print(f"默认管理员账号已创建：用户名 admin，一次性密码 {password}\n"
          f"  (the default admin 'admin', bound to the OS account {login!r}; the password "
          "is shown only this once and must be changed at the first login)", flush=True)


def cmd_users(args: argparse.Namespace, ctx: Context) -> int:
    from hotline.common.clock import utc_now
    from hotline.features.accounts.identity import acting
    from hotline.features.accounts.passwords import one_time_password

    action = args.users_action
    if action == "token":
        action = f"token-{args.token_action}"
    existing_ledger(ctx)
    who = acting(ctx, "users.manage", f"users.{action}")
    if who.person is None:
        raise NoAccounts("the ledger has no account yet: `hotline users init` (or the "
                         "service's first start) creates the default admin")
    routing = ctx.routing()

    def place(seat: str | None, bureau: str | None) -> dict[str, str | None]:
        """Seat and bureau checked against routing.yaml; the bureau defaults to the
        seat's group."""
        out: dict[str, str | None] = {}
        if seat is not None:
            if routing is not None and seat not in routing.seats:
                raise AccountError(f"routing.yaml has no seat {seat!r} (seats: "
                                   f"{', '.join(sorted(routing.seats))})")
            out["seat"] = seat
            if bureau is None and routing is not None:
                bureau = routing.seats[seat].group
        if bureau is not None:
            if routing is not None and bureau not in routing.groups:
                raise AccountError(f"routing.yaml has no group {bureau!r} (groups: "
                                   f"{', '.join(sorted(routing.groups))})")
            out["bureau"] = bureau
        return out

    async def work(accounts: Accounts) -> Any:
        book, now, me = accounts.book, utc_now(), who.name
        if action == "list":
            return [u.public() for u in await book.listing()]
        if action == "add":
            fields = place(args.seat, args.bureau)
            problems = role_problems(args.roles, seat=fields.get("seat"),
                                     bureau=fields.get("bureau"), department=args.department)
            if problems:
                raise AccountError("; ".join(problems))
            password = one_time_password()
            await book.create(username=args.user, display_name=args.display_name or args.user,
                              password_hash=await accounts.passwords.hash(password),
                              roles=args.roles, actor=me, at=now, seat=fields.get("seat"),
                              bureau=fields.get("bureau"), department=args.department,
                              os_login=args.os_login, must_change=True)
            return password
        if action == "passwd":
            await book.must(args.user)
            password = one_time_password()
            await book.set_password(args.user, await accounts.passwords.hash(password),
                                    must_change=True, actor=me, at=now, action="user.passwd")
            return password
        if action == "roles":
            user = await book.must(args.user)
            problems = role_problems(args.roles, seat=user.seat, bureau=user.bureau,
                                     department=user.department)
            if user.username == me and "admin" not in args.roles:
                problems.append("an admin cannot take the admin role from themselves "
                                "(another admin can)")
            if problems:
                raise AccountError("; ".join(problems))
            return (await book.set_roles(args.user, args.roles, actor=me, at=now)).public()
        if action in ("disable", "enable"):
            if action == "disable" and args.user == me:
                raise AccountError("an admin cannot disable themselves")
            await book.must(args.user)
            return (await book.set_disabled(args.user, action == "disable", actor=me,
                                            at=now)).public()
        if action == "edit":
            changes: dict[str, str | None] = {}
            if args.display_name is not None:
                changes["display_name"] = args.display_name
            changes.update(place(args.seat, args.bureau))
            if args.department is not None:
                changes["department"] = args.department
            if args.os_login is not None and args.no_os_login:
                raise AccountError("--os-login and --no-os-login contradict each other")
            if args.os_login is not None:
                changes["os_login"] = args.os_login
            if args.no_os_login:
                changes["os_login"] = None
            if not changes:
                raise AccountError("nothing to change: give --name, --seat, --bureau, "
                                   "--department, --os-login or --no-os-login")
            return (await book.edit(args.user, changes, actor=me, at=now)).public()
        if action == "token-add":
            await book.must(args.user)
            return await accounts.add_token(args.user, args.name, me)
        if action == "token-revoke":
            return (await book.revoke_token(args.id, actor=me, at=now)).public()
        return [{"user": owner, **t.public()}
                for owner, t in await book.tokens(getattr(args, "user", None))]

    result = _run(ctx, work)
    if action == "list":
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            return 0
        table: list[tuple[str, ...]] = [("用户名", "姓名", "角色", "座席", "所属", "部门",
                                         "系统账号", "状态")]
        for u in result:
            table.append((u["username"], u["display_name"],
                          "、".join(ROLES[r] for r in u["roles"]) or "-", u["seat"] or "-",
                          u["bureau"] or "-", u["department"] or "-", u["os_login"] or "-",
                          "停用" if u["disabled"] else
                          ("待改密码" if u["must_change"] else "正常")))
        print_table(table)
        return 0
    if action in ("add", "passwd"):
        print(f"user {args.user}: one-time password {result} (shown only now; it must be "
              "changed at the first login)")
        return 0
    if action == "token-add":
        token_id, token = result
        print(f"API token {token_id} of {args.user}: {token}\n  (shown only now; send it "
              "as `Authorization: Bearer TOKEN`; `hotline users token revoke "
              f"{token_id}` ends it)")
        return 0
    if action == "token-revoke":
        print(f"API token {args.id} revoked")
        return 0
    if action == "token-list":
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            return 0
        tokens: list[tuple[str, ...]] = [("编号", "用户", "用途", "创建", "最近使用", "状态")]
        for t in result:
            tokens.append((str(t["id"]), t["user"], t["name"], str(t["created_at"])[:16],
                          str(t["last_used_at"] or "-")[:16],
                          "已吊销" if t["revoked_at"] else "有效"))
        print_table(tokens)
        return 0
    print(f"user {args.user}: {action} done; roles "
          f"{', '.join(result['roles'])}{', disabled' if result['disabled'] else ''}")
    return 0
