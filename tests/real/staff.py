"""What the browser tests of the staff pages share: Debian's chromium required (a failure
in CI, where HOTLINE_REQUIRE_ASTERISK=1, never a silent skip), the service's web address,
a person's account made straight in the ledger (the admin's page is tested on its own),
and a browser context of that person's, logged in through the login page."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from hotline.app.service import Service

CHROMIUM = "/usr/bin/chromium"


def required(what: str) -> None:
    """Fails in CI (HOTLINE_REQUIRE_ASTERISK=1), skips elsewhere."""
    if os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1":
        pytest.fail(what)
    pytest.skip(what)


def need_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        required("chromium is not installed (Debian package chromium; make system-deps)")


def web_url(service: Service) -> str:
    """The service's web server, without the trailing slash."""
    assert service.web is not None
    assert service.web.url is not None
    return service.web.url.rstrip("/")


async def person(service: Service, username: str, password: str, *, name: str,
                 roles: set[str], seat: str | None = None, bureau: str | None = None,
                 department: str | None = None) -> None:
    """The account, unless the ledger has it already (the tests share one service)."""
    accounts = service.accounts
    if await accounts.book.get(username) is not None:
        return
    await accounts.book.create(
        username=username, display_name=name, roles=roles, actor="test",
        at=datetime.now(UTC), password_hash=await accounts.passwords.hash(password),
        must_change=False, seat=seat, bureau=bureau, department=department)


async def logged_in(browser: Any, url: str, username: str, password: str,
                    **context: Any) -> Any:
    """A page in a browser context of its own (a session of its own), logged in through
    /login and on the landing page. `context`: Playwright's new_context options."""
    page = await (await browser.new_context(locale="zh-CN", **context)).new_page()
    await page.goto(f"{url}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login")
    await page.wait_for_url(f"{url}/workbench/")
    return page
