"""The first start and the first login, as a person does them: `hotline run` on a fresh
ledger writes the default admin's one-time password to a 0600 file beside the ledger
(its stderr is no terminal), never to its output; in Debian's chromium (headless,
driven by Playwright for Python; never `playwright install`) the admin opens the
workbench, is sent to the Chinese login page, logs in with that password, is forced to
change it, and sees the Chinese landing page; the session cookie is HttpOnly and
SameSite=Strict; logging out ends it. No Asterisk is needed: the service runs with its
AMI link down (it keeps retrying), as it would while Asterisk starts."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline.pbx.sandbox import find_free_port
from tests.conftest import REPO
from tests.real.staff import CHROMIUM, need_chromium

NEW_PASSWORD = "Tax-12366-centre"


@dataclass
class Started:
    url: str
    password: str
    ledger: Path
    stderr: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """`hotline run` as its own process on a fresh ledger, its web server on a free port;
    stopped with SIGTERM at the end."""
    folder = tmp_path_factory.mktemp("workbench")
    web_port = find_free_port()
    env = {**os.environ, "HOTLINE_AMI_PORT": str(find_free_port()),
           "HOTLINE_AMI_SECRET": "no-asterisk-here", "HOTLINE_AGI_PORT": str(find_free_port()),
           "HOTLINE_LEDGER_PATH": str(folder / "ledger.sqlite3"),
           "HOTLINE_SERVICE_PID_FILE": str(folder / "hotline.pid"),
           "HOTLINE_PROMPTS_HOST_DIR": str(folder / "prompts"),
           "HOTLINE_PROMPTS_ASTERISK_DIR": "/unused/prompts",
           "HOTLINE_VOICEMAIL_HOST_DIR": str(folder / "voicemail"),
           "HOTLINE_VOICEMAIL_ASTERISK_DIR": "/unused/voicemail",
           "HOTLINE_WEB_PORT": str(web_port), "HOTLINE_LOG_FORMAT": "json"}
    stderr = folder / "stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hotline", "run"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        text = ""
        secret = folder / "admin-one-time-password"
        while time.monotonic() < deadline and proc.poll() is None:
            text = stderr.read_text(encoding="utf-8", errors="replace")
            if "web.listening" in text and "一次性密码见文件" in text:
                break
            time.sleep(0.2)
        assert "web.listening" in text, text[-2000:]
        # stderr is a file here (as under a service manager, where the log goes too): the
        # password is in a file of the owner's only beside the ledger, the output names it.
        assert re.findall(r"一次性密码见文件 (\S+) ", text) == [str(secret)], text[-2000:]
        assert secret.stat().st_mode & 0o777 == 0o600
        password = secret.read_text(encoding="utf-8").strip()
        assert len(password) >= 16
        yield Started(f"http://127.0.0.1:{web_port}", password, folder / "ledger.sqlite3",
                      stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_first_login_with_the_one_time_password(service: Started) -> None:
    """Opening /workbench/ goes to the login page (中文); the one-time password logs in
    and leads to the password page, which insists on a change; the new password leads to
    the landing page with the admin's name and roles in Chinese; the cookie is HttpOnly
    and SameSite=Strict; logout returns to the login page and the session no longer
    opens the workbench. The password was in no line of hotline's output (its log)."""
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(locale="zh-CN")
            page = await context.new_page()
            await page.goto(f"{service.url}/workbench/")
            assert page.url == f"{service.url}/login"
            assert "登录" in await page.title()
            await page.fill("#username", "admin")
            await page.fill("#password", service.password)
            await page.click("#login")
            await page.wait_for_url(f"{service.url}/password")
            assert "请先设置新密码" in await page.inner_text("#notice")
            # Anything else while the password is a one-time one leads back here.
            await page.goto(f"{service.url}/workbench/")
            assert page.url == f"{service.url}/password"
            await page.fill("#current", service.password)
            await page.fill("#new", "short")
            await page.fill("#confirm", "short")
            await page.click("#change")
            assert "新密码不符合要求" in await page.inner_text("#error")
            await page.fill("#current", service.password)
            await page.fill("#new", NEW_PASSWORD)
            await page.fill("#confirm", NEW_PASSWORD)
            await page.click("#change")
            await page.wait_for_url(f"{service.url}/workbench/?changed=1")
            assert await page.inner_text("h1") == "欢迎，系统管理员"
            assert await page.inner_text("#roles") == "管理员、班长"
            assert "密码已修改" in await page.inner_text("#notice")
            await page.screenshot(path=str(service.ledger.parent / "workbench.png"))
            [cookie] = [c for c in await context.cookies() if c["name"] == "hotline_session"]
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
            await page.click("#logout")
            await page.wait_for_url(f"{service.url}/login")
            await page.goto(f"{service.url}/workbench/")
            assert page.url == f"{service.url}/login"
        finally:
            await browser.close()
    con = sqlite3.connect(service.ledger)
    try:
        actions = [r[0] for r in con.execute(
            "SELECT action FROM audit WHERE actor = 'admin' ORDER BY id")]
    finally:
        con.close()
    assert actions == ["login", "user.password_changed", "logout"]
    log = service.stderr.read_text(encoding="utf-8")
    assert service.password not in log
    assert NEW_PASSWORD not in log
