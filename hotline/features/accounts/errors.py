"""Errors of the accounts feature: bad account input, the CLI's acting person, and the
web's and API's refusals (each with the HTTP status it is answered with)."""

from __future__ import annotations

from typing import ClassVar

from hotline.common.errors import HotlineError


class AccountError(HotlineError):
    """An account request is invalid: a user name, a role, a seat or bureau that is not
    routing.yaml's (base of the account errors)."""

    code = "account-invalid"
    status: ClassVar[int] = 400


class PasswordRejected(AccountError):
    """The new password breaks the rules (length, the user name in it, ...) or the current
    one given is wrong."""

    code = "password-rejected"


class NoAccounts(AccountError):
    """The ledger has no staff account yet: `hotline run` (or `hotline users init`) creates
    the default admin."""

    code = "no-accounts"


class StaffUnbound(HotlineError):
    """The OS account running a staff command is bound to no enabled hotline user."""

    code = "staff-unbound"


class StaffNotAllowed(HotlineError):
    """The person (bound to this OS account) lacks the role a command or an API call
    needs; the refusal is audited."""

    code = "role-required"
    status: ClassVar[int] = 403


# -- the web and the API ----------------------------------------------------------------


class WebError(HotlineError):
    """A web or API request refused (base of the web errors: 400)."""

    code = "web-refused"
    status: ClassVar[int] = 400


class AuthRequired(WebError):
    """No valid session or API token: log in (/login) or send `Authorization: Bearer`."""

    code = "auth-required"
    status = 401


class LoginFailed(WebError):
    """Wrong user name or password, or a disabled account (not told apart); audited."""

    code = "login-failed"
    status = 401


class LoginThrottled(WebError):
    """Too many failed logins for the account or from the address: wait and try again."""

    code = "login-throttled"
    status = 429


class CsrfRejected(WebError):
    """A state-changing request without the session's CSRF token, or from another origin."""

    code = "csrf-rejected"
    status = 403


class PasswordChangeRequired(WebError):
    """The password is a one-time password: change it (/password) before anything else."""

    code = "password-change-required"
    status = 403


class ApiNotFound(WebError):
    """No such API route or object."""

    code = "api-not-found"
    status = 404


class ApiMethodNotAllowed(WebError):
    """The API route does not take that HTTP method."""

    code = "api-method-not-allowed"
    status = 405


class ApiBadBody(WebError):
    """The request's body is not the JSON object the route takes (a field missing, of the
    wrong type, or unknown)."""

    code = "api-bad-body"


class ApiBadQuery(WebError):
    """A query parameter of an API request is unknown or not what it must be."""

    code = "api-bad-query"
