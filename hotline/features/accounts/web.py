"""Logins, sessions and the REST API's skeleton, on the service's aiohttp app.

    GET  /login              the login page (Chinese); POST /login logs in
    POST /logout             ends the session
    GET  /password           change one's password (forced after a one-time password)
    GET  /workbench/         the landing page of the logged-in person
    /api/v1/...              JSON, every route role-checked (see `api_routes` and
                             /api/v1/openapi.json)

A session is an opaque 256-bit id in the cookie `hotline_session` (HttpOnly,
SameSite=Strict, Secure with web.secure_cookies), held in the ledger by its SHA-256 with
its CSRF token, creation and last-seen times: logout, a password change or disabling the
account end it there, and a forged or copied-from-a-backup cookie finds nothing. Every
state-changing request made with the cookie carries the session's CSRF token (the form
field `csrf`, or the header X-CSRF-Token for the API) and, when the browser sends one, an
Origin of this host; the login form has its own double-submit token. Scripts use API
tokens (`Authorization: Bearer hl_...`), which need no CSRF token: a browser never sends
them by itself.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from hotline import __version__
from hotline.common.errors import HotlineError
from hotline.core.accounts import (
    PERMISSIONS,
    ROLES,
    AccountRuleError,
    display_name,
    role_problems,
    roles,
    username,
)
from hotline.features.accounts.errors import (
    AccountError,
    ApiBadBody,
    ApiBadQuery,
    ApiMethodNotAllowed,
    ApiNotFound,
    AuthRequired,
    CsrfRejected,
    LoginFailed,
    LoginThrottled,
    PasswordChangeRequired,
    PasswordRejected,
    StaffNotAllowed,
)
from hotline.features.accounts.passwords import one_time_password
from hotline.features.accounts.service import Accounts, Authenticated
from hotline.ledger.errors import (
    CallUnknown,
    OsLoginTaken,
    TokenUnknown,
    UserExists,
    UserUnknown,
    VoicemailNotNew,
    VoicemailUnknown,
)

log = structlog.get_logger("hotline.accounts")

SESSION_COOKIE = "hotline_session"
LOGIN_COOKIE = "hotline_login"  # the login form's double-submit CSRF token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGES = resources.files("hotline.features.accounts").joinpath("pages")
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer chromium sends `Origin: null` with
    # the forms' own posts, which the Origin check must refuse.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"),
}
# HTTP status of the ledger's account errors (the feature's own carry theirs).
STATUS: Mapping[type[HotlineError], int] = {UserUnknown: 404, TokenUnknown: 404,
                                            UserExists: 409, OsLoginTaken: 409,
                                            CallUnknown: 404, VoicemailUnknown: 404,
                                            VoicemailNotNew: 409}

Handler = Callable[[web.Request, Authenticated], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One API route: who may call it (`permission`, of core.accounts.PERMISSIONS; None:
    anyone logged in; `public`: no login at all) and what the OpenAPI document says."""

    method: str
    path: str  # under /api/v1, aiohttp's {name} for a path parameter
    handler: Handler
    summary: str
    permission: str | None = None
    public: bool = False
    # Allowed while the password is a one-time one (the person must be able to change it).
    before_password_change: bool = False
    body: Mapping[str, str] = field(default_factory=dict)  # field -> JSON type
    query: tuple[str, ...] = ()  # the query parameters it takes (all optional strings)


class Api:
    """The /api/v1 routes: every later page's API registers here, and gets the same
    authentication, CSRF check, role check, JSON errors and OpenAPI entry."""

    PREFIX = "/api/v1"

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.routes: list[Route] = []

    def add(self, route: Route) -> None:
        if route.permission is not None and route.permission not in PERMISSIONS:
            raise ValueError(f"{route.path}: unknown permission {route.permission!r}")
        self.routes.append(route)

    def add_routes(self, app: web.Application) -> None:
        by_path: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            by_path.setdefault(route.path, {})[route.method] = route
        for path, methods in by_path.items():
            app.router.add_route("*", self.PREFIX + path, self._dispatcher(methods))
        app.router.add_route("*", self.PREFIX + "/{tail:.*}", self._unknown)

    def _dispatcher(self, methods: dict[str, Route],
                    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def dispatch(request: web.Request) -> web.StreamResponse:
            route = methods.get(request.method)
            if route is None:
                allowed = ", ".join(sorted(methods))
                return error_response(ApiMethodNotAllowed(
                    f"{request.method} {request.path}: not a method of this route (it "
                    f"takes {allowed})"), headers={"Allow": allowed})
            try:
                return await self._call(route, request)
            except HotlineError as exc:
                return error_response(exc)

        return dispatch

    async def _unknown(self, request: web.Request) -> web.Response:
        return error_response(ApiNotFound(f"no API route {request.path} (the routes are "
                                          f"listed in {self.PREFIX}/openapi.json)"))

    async def _call(self, route: Route, request: web.Request) -> web.StreamResponse:
        auth = None
        if not route.public:
            auth = await authenticate(self.accounts, request)
            if auth is None:
                raise AuthRequired("log in (/login) or send Authorization: Bearer TOKEN")
            if auth.session is not None and request.method not in SAFE_METHODS:
                check_csrf(request, auth.session.csrf,
                           request.headers.get("X-CSRF-Token"))
            if auth.must_change and not route.before_password_change:
                raise PasswordChangeRequired("change the one-time password first "
                                             "(/password, or POST /api/v1/me/password)")
            if route.permission is not None and not auth.person.may(route.permission):
                await self.accounts.book.audit(
                    auth.user.username, "api.refused", f"{route.method} {route.path}",
                    route.permission, self.accounts.clock())
                raise StaffNotAllowed(
                    f"{auth.user.username} may not {route.method} {self.PREFIX}"
                    f"{route.path}: it needs the role "
                    f"{' or '.join(sorted(PERMISSIONS[route.permission]))}")
        result = await route.handler(request, auth)  # type: ignore[arg-type]
        if isinstance(result, web.StreamResponse):
            return result  # a stream the handler answered itself (server-sent events)
        status = 200
        if isinstance(result, tuple):
            status, result = result
        return web.json_response(result, status=status, dumps=_dumps, headers=HEADERS)

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            params = [{"name": p.strip("{}"), "in": "path", "required": True,
                       "schema": {"type": "string"}}
                      for p in route.path.split("/") if p.startswith("{")]
            params += [{"name": q, "in": "query", "required": False,
                        "schema": {"type": "string"}} for q in route.query]
            who = ("public" if route.public else "any logged-in user"
                   if route.permission is None else
                   "roles: " + ", ".join(sorted(PERMISSIONS[route.permission])))
            op: dict[str, Any] = {
                "summary": route.summary,
                "description": f"Who: {who}.",
                "x-hotline-permission": route.permission,
                "responses": {"200": {"description": "OK"},
                              "default": {"description": "an error",
                                          "content": {"application/json": {"schema": {
                                              "$ref": "#/components/schemas/Error"}}}}},
            }
            if params:
                op["parameters"] = params
            if route.public:
                op["security"] = []
            if route.body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "additionalProperties": False,
                               "properties": {k: {"type": t} if t != "array" else
                                              {"type": "array", "items": {"type": "string"}}
                                              for k, t in route.body.items()}}}}}
            paths.setdefault(self.PREFIX + route.path, {})[route.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": "hotline workbench API", "version": __version__},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "token": {"type": "http", "scheme": "bearer",
                              "description": "an API token (`hotline users token add`)"},
                    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                                "description": "a web login; state-changing requests "
                                "also send the header X-CSRF-Token"}},
                "schemas": {"Error": {"type": "object", "required": ["error", "message"],
                                      "properties": {"error": {"type": "string"},
                                                     "message": {"type": "string"}}}}},
            "security": [{"token": []}, {"session": []}],
        }


def error_response(exc: HotlineError, headers: Mapping[str, str] | None = None,
                   ) -> web.Response:
    """An error as JSON with its stable id: {"error": ID, "message": ...}."""
    status = STATUS.get(type(exc)) or int(getattr(exc, "status", 400))
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    extra = dict(HEADERS, **(headers or {}))
    if "retry_after" in exc.details:
        extra["Retry-After"] = str(exc.details["retry_after"])
    return web.json_response(body, status=status, dumps=_dumps, headers=extra)


async def authenticate(accounts: Accounts, request: web.Request) -> Authenticated | None:
    """A bearer token (scripts) or the session cookie (the browser)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRequired("Authorization must be `Bearer TOKEN`")
        return await accounts.by_token(token.strip())
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    return await accounts.by_session(session_id, request.remote)


async def still_logged_in(accounts: Accounts, auth: Authenticated,
                          request: web.Request) -> bool:
    """A long request's login still holds (a stream's): a session not ended nor expired,
    not touched by this check (an open page alone keeps nobody logged in); a token not
    revoked."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if auth.session is not None and session_id:
        return await accounts.by_session(session_id, request.remote, touch=False) is not None
    return await authenticate(accounts, request) is not None


async def logged_in_page(accounts: Accounts, request: web.Request, html: str,
                         headers: Mapping[str, str]) -> web.StreamResponse:
    """A staff page served as it is (its data comes from the API, which checks the
    roles): to /login without a session, to /password while the password is a one-time
    one; else `html` with the page's `headers` (its Content-Security-Policy)."""
    auth = await authenticate(accounts, request)
    if auth is None or auth.session is None:
        return web.Response(status=303, headers={**HEADERS, "Location": "/login"})
    if auth.must_change:
        return web.Response(status=303, headers={**HEADERS, "Location": "/password"})
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers=headers)


def check_csrf(request: web.Request, expected: str, given: str | None) -> None:
    """The session's (or login form's) token, and an Origin of this host if sent."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise CsrfRejected(f"a request from another origin ({origin[:80]}) is refused")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected("the CSRF token is missing or wrong: reload the page")



def static_text(text: str, kind: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler that serves `text` (a page's script or style sheet) as `kind`, UTF-8,
    with the staff pages' security headers."""
    async def static(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type=kind, charset="utf-8", headers=HEADERS)

    return static


# -- query parameters, as the /api/v1 routes of every feature read them ----------------

QUERY_LINE_LIMIT = 200  # a query parameter: one line of at most this many characters


def query_of(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each known, given once, one line of at most
    QUERY_LINE_LIMIT characters (ApiBadQuery naming the problem)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise ApiBadQuery(f"unknown query parameter(s) {', '.join(unknown)[:200]} "
                          f"(parameters: {', '.join(allowed) or 'none'})")
    repeated = sorted(k for k in set(request.query) if len(request.query.getall(k)) > 1)
    if repeated:
        raise ApiBadQuery(f"query parameter(s) {', '.join(repeated)} given more than once")
    out = {k: v for k, v in request.query.items()}
    for key, value in out.items():
        if len(value) > QUERY_LINE_LIMIT or any(ord(c) < 32 for c in value):
            raise ApiBadQuery(f"{key}: at most {QUERY_LINE_LIMIT} characters of one line")
    return out


def query_flag(query: Mapping[str, str], key: str) -> bool:
    """A yes/no query parameter (1, 0, true, false; absent: no)."""
    value = query.get(key)
    if value is None:
        return False
    if value not in ("0", "1", "true", "false"):
        raise ApiBadQuery(f"{key} must be 1 or 0 (true or false), not {value[:20]!r}")
    return value in ("1", "true")


def query_number(query: Mapping[str, str], key: str, default: int, low: int,
                 high: int) -> int:
    """A whole-number query parameter from `low` to `high` (absent: `default`)."""
    value = query.get(key)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 9 or not (
            low <= int(value) <= high):
        raise ApiBadQuery(f"{key} must be a whole number from {low} to {high}, not "
                          f"{value[:20]!r}")
    return int(value)

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _body(request: web.Request, fields: Mapping[str, str],
                required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, its fields of the types `fields` names."""
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiBadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiBadBody("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiBadBody(f"unknown field(s) {', '.join(unknown)} (fields: "
                         f"{', '.join(fields)})")
    missing = [f for f in required if f not in data]
    if missing:
        raise ApiBadBody(f"missing field(s) {', '.join(missing)}")
    types: dict[str, type] = {"string": str, "boolean": bool, "array": list}
    for key, value in data.items():
        if value is None and key not in required:
            continue
        if not isinstance(value, types[fields[key]]) or (
                isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            raise ApiBadBody(f"{key} must be a {fields[key]}"
                             + (" of strings" if fields[key] == "array" else ""))
        if isinstance(value, str) and (len(value) > 200 or any(
                ord(c) < 32 for c in value)):
            raise ApiBadBody(f"{key}: at most 200 characters of one line")
    return data


def _rules(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except AccountRuleError as exc:
        raise AccountError(str(exc)) from None


# -- the API's account routes -----------------------------------------------------------


USER_FIELDS = {"username": "string", "display_name": "string", "roles": "array",
               "seat": "string", "bureau": "string", "department": "string",
               "os_login": "string"}
EDIT_FIELDS = {"display_name": "string", "roles": "array", "seat": "string",
               "bureau": "string", "department": "string", "os_login": "string",
               "disabled": "boolean"}


def me_view(auth: Authenticated) -> dict[str, Any]:
    user = auth.user
    return {**user.public(), "role_labels": [ROLES[r] for r in sorted(user.roles)],
            "sees_bureau": auth.person.bureau if auth.person.remote and
            "leader" not in user.roles else None,
            "by": "token" if auth.token_id is not None else "session",
            "csrf_token": auth.session.csrf if auth.session is not None else None}


def api_routes(api: Api, places: Callable[[], tuple[set[str], dict[str, str]] | None],
               ) -> None:
    """/me, the users' administration and one's API tokens. `places`: routing.yaml's
    seats and {seat: its group} (None: no routing.yaml, nothing to check against)."""
    accounts = api.accounts

    def placed(seat: str | None, bureau: str | None) -> dict[str, str | None]:
        known = places()
        out: dict[str, str | None] = {}
        if seat is not None:
            if known is not None and seat not in known[1]:
                raise AccountError(f"routing.yaml has no seat {seat!r}")
            out["seat"] = seat
            if bureau is None and known is not None:
                bureau = known[1][seat]
        if bureau is not None:
            if known is not None and bureau not in known[0]:
                raise AccountError(f"routing.yaml has no group {bureau!r}")
            out["bureau"] = bureau
        return out

    async def me(request: web.Request, auth: Authenticated) -> Any:
        return me_view(auth)

    async def my_password(request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, {"current": "string", "new": "string"},
                           ("current", "new"))
        await accounts.change_password(auth, data["current"], data["new"])
        return {"changed": True}

    async def users(request: web.Request, auth: Authenticated) -> Any:
        return [u.public() for u in await accounts.book.listing()]

    async def add_user(request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, USER_FIELDS, ("username", "roles"))
        name = _rules(lambda: username(data["username"]))
        granted = _rules(lambda: roles(data["roles"]))
        where = placed(data.get("seat"), data.get("bureau"))
        problems = role_problems(granted, seat=where.get("seat"), bureau=where.get("bureau"),
                                 department=data.get("department"))
        if problems:
            raise AccountError("; ".join(problems))
        shown = _rules(lambda: display_name(data.get("display_name") or name))
        password = one_time_password()
        user = await accounts.book.create(
            username=name, display_name=shown,
            password_hash=await accounts.passwords.hash(password), roles=granted,
            actor=auth.user.username, at=accounts.clock(), seat=where.get("seat"),
            bureau=where.get("bureau"), department=data.get("department"),
            os_login=data.get("os_login"))
        assert user is not None
        return 201, {"user": user.public(), "one_time_password": password}

    async def one_user(request: web.Request, auth: Authenticated) -> Any:
        return (await accounts.book.must(request.match_info["username"])).public()

    async def edit_user(request: web.Request, auth: Authenticated) -> Any:
        name = request.match_info["username"]
        data = await _body(request, EDIT_FIELDS)
        if not data:
            raise ApiBadBody("nothing to change")
        book, me_name, now = accounts.book, auth.user.username, accounts.clock()
        user = await book.must(name)
        changes: dict[str, str | None] = {}
        if data.get("display_name") is not None:
            changes["display_name"] = _rules(lambda: display_name(data["display_name"]))
        changes.update(placed(data.get("seat"), data.get("bureau")))
        for key in ("department", "os_login"):
            if key in data:
                changes[key] = data[key]
        if "roles" in data:
            granted = _rules(lambda: roles(data["roles"]))
            problems = role_problems(granted, seat=changes.get("seat", user.seat),
                                     bureau=changes.get("bureau", user.bureau),
                                     department=changes.get("department", user.department))
            if name == me_name and "admin" not in granted:
                problems.append("an admin cannot take the admin role from themselves")
            if problems:
                raise AccountError("; ".join(problems))
        if data.get("disabled") is True and name == me_name:
            raise AccountError("an admin cannot disable themselves")
        if changes:
            user = await book.edit(name, changes, actor=me_name, at=now)
        if "roles" in data:
            user = await book.set_roles(name, granted, actor=me_name, at=now)
        if data.get("disabled") is not None and bool(data["disabled"]) != user.disabled:
            user = await book.set_disabled(name, bool(data["disabled"]), actor=me_name,
                                           at=now)
        return user.public()

    async def reset_password(request: web.Request, auth: Authenticated) -> Any:
        name = request.match_info["username"]
        await accounts.book.must(name)
        password = one_time_password()
        await accounts.book.set_password(name, await accounts.passwords.hash(password),
                                         must_change=True, actor=auth.user.username,
                                         at=accounts.clock(), action="user.passwd")
        return {"username": name, "one_time_password": password}

    async def my_tokens(request: web.Request, auth: Authenticated) -> Any:
        return [t.public() for _, t in await accounts.book.tokens(auth.user.username)]

    async def add_my_token(request: web.Request, auth: Authenticated) -> Any:
        data = await _body(request, {"name": "string"}, ("name",))
        if not data["name"].strip():
            raise ApiBadBody("name must say what the token is for")
        token_id, token = await accounts.add_token(auth.user.username, data["name"].strip(),
                                                   auth.user.username)
        return 201, {"id": token_id, "token": token}

    async def revoke_my_token(request: web.Request, auth: Authenticated) -> Any:
        raw = request.match_info["id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise ApiNotFound(f"no API token {raw[:20]!r}")
        return (await accounts.book.revoke_token(int(raw), actor=auth.user.username,
                                                 at=accounts.clock(),
                                                 owner=auth.user.username)).public()

    async def openapi(request: web.Request, auth: Authenticated | None) -> Any:
        return api.openapi()

    for route in (
        Route("GET", "/openapi.json", openapi, "this document", public=True),
        Route("GET", "/me", me, "who is logged in: name, roles, seat, bureau (and the "
              "session's CSRF token)", before_password_change=True),
        Route("POST", "/me/password", my_password, "change one's own password",
              before_password_change=True, body={"current": "string", "new": "string"}),
        Route("GET", "/me/tokens", my_tokens, "one's API tokens (never their value)",
              permission="tokens.own"),
        Route("POST", "/me/tokens", add_my_token, "a new API token (shown once)",
              permission="tokens.own", body={"name": "string"}),
        Route("DELETE", "/me/tokens/{id}", revoke_my_token, "revoke one of one's tokens",
              permission="tokens.own"),
        Route("GET", "/users", users, "every account", permission="users.manage"),
        Route("POST", "/users", add_user, "a new account; its one-time password is in the "
              "answer, once", permission="users.manage", body=USER_FIELDS),
        Route("GET", "/users/{username}", one_user, "one account",
              permission="users.manage"),
        Route("PATCH", "/users/{username}", edit_user, "change an account's name, roles, "
              "seat, bureau, department, OS login, or disable it",
              permission="users.manage", body=EDIT_FIELDS),
        Route("POST", "/users/{username}/password", reset_password, "a new one-time "
              "password (its sessions end)", permission="users.manage"),
    ):
        api.add(route)


# -- the pages --------------------------------------------------------------------------


class Pages:
    """/login, /logout, /password, /workbench/ (server-rendered, no script)."""

    def __init__(self, accounts: Accounts, *, secure_cookies: bool = False) -> None:
        self.accounts = accounts
        self.secure = secure_cookies
        self._templates = {name: Template(PAGES.joinpath(f"{name}.html").read_text(
            encoding="utf-8")) for name in ("login", "password", "home")}
        self._css = PAGES.joinpath("base.css").read_text(encoding="utf-8")

    def add_routes(self, app: web.Application) -> None:
        for method, path, handler in (
                ("GET", "/login", self.login_page), ("POST", "/login", self.login),
                ("POST", "/logout", self.logout), ("GET", "/password", self.password_page),
                ("POST", "/password", self.password), ("GET", "/workbench", self.to_home),
                ("GET", "/workbench/", self.home), ("GET", "/static/accounts.css", self.css)):
            app.router.add_route(method, path, _page_errors(handler))

    def _page(self, page: str, status: int = 200, **fields: str) -> web.Response:
        text = self._templates[page].substitute(
            {k: v for k, v in fields.items() if not k.endswith("_html")} | {
                k[:-5]: v for k, v in fields.items() if k.endswith("_html")})
        return web.Response(text=text, status=status, content_type="text/html",
                            charset="utf-8", headers=HEADERS)

    async def css(self, request: web.Request) -> web.Response:
        return web.Response(text=self._css, content_type="text/css", charset="utf-8",
                            headers=HEADERS)

    def _login_form(self, status: int = 200, error: str = "", name: str = "",
                    ) -> web.Response:
        token = secrets.token_urlsafe(32)
        response = self._page("login", status, csrf=escape(token), username=escape(name),
                              error_html=f'<p class="error" id="error">{escape(error)}</p>'
                              if error else "")
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict",
                            secure=self.secure, path="/login")
        return response

    async def login_page(self, request: web.Request) -> web.Response:
        auth = await authenticate(self.accounts, request)
        if auth is not None and auth.session is not None:
            return _redirect("/password" if auth.must_change else "/workbench/")
        return self._login_form()

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name = str(form.get("username", ""))[:64]
        try:
            check_csrf(request, request.cookies.get(LOGIN_COOKIE, ""),
                       str(form.get("csrf", "")) or None)
        except CsrfRejected:
            return self._login_form(403, "页面已过期，请重新登录。", name)
        try:
            session_id, user = await self.accounts.login(
                name, str(form.get("password", ""))[:256], request.remote)
        except LoginThrottled as exc:
            wait = exc.details.get("retry_after", 60)
            return self._login_form(429, f"登录失败次数过多，请 {wait} 秒后再试。", name)
        except LoginFailed:
            return self._login_form(401, "用户名或密码错误。", name)
        response = _redirect("/password" if user.must_change else "/workbench/")
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Strict",
                            secure=self.secure, path="/")
        response.del_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def _session(self, request: web.Request) -> Authenticated:
        auth = await authenticate(self.accounts, request)
        if auth is None or auth.session is None:
            raise _Redirect("/login")
        return auth

    async def logout(self, request: web.Request) -> web.Response:
        auth = await self._session(request)
        form = await request.post()
        check_csrf(request, auth.session.csrf if auth.session else "",
                   str(form.get("csrf", "")) or None)
        await self.accounts.logout(auth, request.remote)
        response = _redirect("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    def _password_form(self, auth: Authenticated, status: int = 200, error: str = "",
                       ) -> web.Response:
        notice = ('<p class="note" id="notice">您正在使用一次性密码，请先设置新密码。</p>'
                  if auth.must_change else "")
        return self._page("password", status, csrf=escape(auth.session.csrf
                                                         if auth.session else ""),
                          notice_html=notice,
                          error_html=f'<p class="error" id="error">{escape(error)}</p>'
                          if error else "")

    async def password_page(self, request: web.Request) -> web.Response:
        return self._password_form(await self._session(request))

    async def password(self, request: web.Request) -> web.Response:
        auth = await self._session(request)
        form = await request.post()
        check_csrf(request, auth.session.csrf if auth.session else "",
                   str(form.get("csrf", "")) or None)
        try:
            await self.accounts.change_password(auth, str(form.get("current", ""))[:256],
                                                str(form.get("new", ""))[:256],
                                                str(form.get("confirm", ""))[:256])
        except PasswordRejected as exc:
            return self._password_form(auth, 400, _password_message(exc.message))
        return _redirect("/workbench/?changed=1")

    async def to_home(self, request: web.Request) -> web.Response:
        return _redirect("/workbench/")

    async def home(self, request: web.Request) -> web.Response:
        auth = await self._session(request)
        if auth.must_change:
            return _redirect("/password")
        user = auth.user
        notice = ('<p class="note" id="notice">密码已修改。</p>'
                  if request.query.get("changed") == "1" else "")
        links = "".join(f'<a href="{path}" id="{anchor}">{label}</a>'
                        for path, anchor, label, needs in HOME_LINKS
                        if needs is None or auth.person.may(needs)
                        or needs.removeprefix("role:") in user.roles)
        return self._page("home", name=escape(user.display_name), nav_html=links,
                          username=escape(user.username),
                          roles=escape("、".join(ROLES[r] for r in sorted(user.roles))),
                          seat=escape(user.seat or "-"), bureau=escape(user.bureau or "-"),
                          department=escape(user.department or "-"),
                          csrf=escape(auth.session.csrf if auth.session else ""),
                          notice_html=notice)


# The home page's links: (path, element id, label, what it needs: a permission, or
# "role:NAME" for a page of one role's; None: everyone).
HOME_LINKS: tuple[tuple[str, str, str, str | None], ...] = (
    ("/workbench/seat", "seat-page", "座席工作台", "seats.own"),
    ("/workbench/liaison", "liaison-page", "联络员工作台", "role:liaison"),
    ("/workbench/leader", "leader-page", "班长工作台", "seats.any"),
    ("/workbench/leader/followup", "followup-page", "班长跟进", "orders.remind"),
    ("/workbench/kb", "kb-page", "知识库", "kb.read"),
    ("/workbench/quality", "quality-page", "质检", "quality.read"),
    ("/workbench/calls", "calls-page", "来电记录", "ledger.read"),
    ("/workbench/reports", "reports-page", "季度报表", "reports.read"),
    ("/workbench/unmask", "unmask-page", "查看保密信息（审计员）", "ledger.unmask"),
    ("/workbench/admin", "admin-page", "系统管理", "users.manage"),
    ("/", "wallboard-page", "大屏", None),
    ("/password", "password-page", "修改密码", None),
)


def _page_errors(handler: Callable[[web.Request], Awaitable[web.Response]],
                 ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A page's refusals: not logged in, to /login; a bad CSRF token or any other
    refusal, as JSON with its id (a form posted from a stale page)."""
    async def page(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _Redirect as to:
            return _redirect(to.location)
        except HotlineError as exc:
            return error_response(exc)

    return page


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": location})


class _Redirect(Exception):
    """To the login page, or to the password page, from inside a page handler."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _password_message(message: str) -> str:
    """The password rules' refusal in Chinese (the page's language)."""
    if "current password is wrong" in message:
        return "当前密码不正确。"
    if "differ" in message:
        return "两次输入的新密码不一致。"
    parts = {"at least 10": "至少 10 个字符", "at most": "最多 128 个字符",
             "no space": "首尾不能有空格", "4 different": "至少 4 种不同字符",
             "user name": "不能包含用户名", "control": "不能有控制字符",
             "not the same": "不能与当前密码相同"}
    found = [label for key, label in parts.items() if key in message]
    return "新密码不符合要求：" + "；".join(found or [message]) + "。"
