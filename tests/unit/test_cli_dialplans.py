"""`hotline check`, `simulate`, `prompts build` and `reload` as an administrator runs them."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from tests.cli import REPO, hotline
from tests.conftest import routing_for_tests


def test_check_passes_the_shipped_dialplan(tmp_path: Path) -> None:
    """`hotline check` passes the shipped dialplan with no error, warning only of
    unpublished years."""
    res = hotline("check", env={"HOTLINE_LEDGER_PATH": str(tmp_path / "none.sqlite3")})
    assert res.returncode == 0, res.stdout + res.stderr
    *warnings, note, summary = res.stdout.strip().splitlines()
    assert " 1 dialplan(s): 0 error(s), " in summary
    # The only warnings are about years the State Council has not published yet.
    assert all("years: warning: no official schedule for" in w for w in warnings)
    # No ledger here: the knowledge base's entries are not looked at.
    assert note.startswith("knowledge-base entries not checked: no ledger at ")


def test_check_reports_every_error_with_file_and_line_and_fails(tmp_path: Path) -> None:
    """`hotline check` reports every error of a dialplan with file, line and key path, and
    exits 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'dialplan: "9"\n'
        "prompts:\n"
        "  hi: 你好\n"
        "menus:\n"
        "  main:\n"
        "    greeting: hi\n"
        "    options:\n"
        '      "1": {goto: mian}\n'
        '      "2": {queue: nowhere}\n'
        '      "3": {dance: true}\n', encoding="utf-8")
    res = hotline("check", str(bad))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert f"{bad}:8: menus.main.options.\"1\".goto: unknown menu 'mian' (did you mean " \
           "'main'?)" in lines
    assert any(line.startswith(f"{bad}:9: menus.main.options.\"2\".queue: unknown queue "
                               "'nowhere'") for line in lines)
    assert any(line.startswith(f"{bad}:10: menus.main.options.\"3\".dance: unknown action")
               for line in lines)
    assert " 3 error(s), " in lines[-1]


def test_simulate_walks_the_menu_with_the_live_engine() -> None:
    """`hotline simulate --json` walks the shipped menu with the engine: keys 1 1 on a
    working morning queue to iit as an income tax consultation."""
    res = hotline("simulate", "--keys", "1 1", "--at", "2026-11-25T10:00", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["calendar"] == "open"
    assert out["final"]["action"] == "queue iit"
    assert out["final"]["path"] == ["main", "consult"]
    assert (out["final"]["category"], out["final"]["topic"]) == (
        "consultation", "individual_income_tax")
    assert out["steps"][0]["command"] == "play welcome, main_menu"
    assert out["steps"][0]["event"] == "key 1"


def test_simulate_on_a_holiday_offers_voicemail() -> None:
    """On a holiday `hotline simulate` takes the closed branch, where key 2 leaves a
    voicemail."""
    res = hotline("simulate", "--keys", "2", "--at", "2026-10-01T10:00")
    assert res.returncode == 0, res.stderr
    assert "non_working_day" in res.stdout.splitlines()[0]
    assert "final: voicemail 12366" in res.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["simulate", "--keys", "1x"], "--keys: 'x' is not a key"),
    (["simulate", "--at", "tomorrow"], "'tomorrow' is not an ISO date-time"),
    (["simulate", "--line", "999"], "no dialplan named '999'"),
    (["check", "/nonexistent/x.yaml"], "/nonexistent/x.yaml:1: file not found"),
])
def test_bad_arguments_get_a_clear_error(args: list[str], message: str) -> None:
    """Bad keys, times, line names or paths get a message naming them, without a
    traceback."""
    res = hotline(*args)
    assert res.returncode in (1, 2)
    assert message in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_prompts_build_synthesises_8khz_audio_once(tmp_path: Path) -> None:
    """`hotline prompts build` makes 8 kHz mono speech for each prompt, and rebuilds nothing
    the second time."""
    env = {"HOTLINE_PROMPTS_HOST_DIR": str(tmp_path / "sounds"),
           "HOTLINE_PROMPTS_ASTERISK_DIR": "/srv/sounds",
           "HOTLINE_ROUTING_PATH": str(routing_for_tests(tmp_path))}
    plan = REPO / "tests" / "dialplans" / "test.yaml"
    first = hotline("prompts", "build", "--dialplan", str(plan), env=env)
    assert first.returncode == 0, first.stderr
    assert "12399: 12 built, 0 up to date" in first.stdout
    with wave.open(str(tmp_path / "sounds" / "12399" / "hello.wav")) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 8000  # more than a second of speech
    again = hotline("prompts", "build", "--dialplan", str(plan), env=env)
    assert "12399: 0 built, 12 up to date" in again.stdout


def test_reload_without_a_running_service_says_so(tmp_path: Path) -> None:
    """`hotline reload` with no running service says so and exits 1."""
    res = hotline("reload", env={"HOTLINE_SERVICE_PID_FILE": str(tmp_path / "none.pid")})
    assert res.returncode == 1
    assert "[service-not-running]" in res.stderr


def test_reload_refuses_invalid_dialplans_before_signalling(tmp_path: Path) -> None:
    """`hotline reload` refuses an invalid dialplan (exit 2, file and line) before looking
    for the service."""
    (tmp_path / "x.yaml").write_text("menus: {main: {greeting: a}}\n", encoding="utf-8")
    res = hotline("reload", env={"HOTLINE_DIALPLANS_PATHS": f"[{tmp_path}]",
                                 "HOTLINE_SERVICE_PID_FILE": str(tmp_path / "x.pid")})
    assert res.returncode == 2
    assert "x.yaml:1: menus.main" in res.stderr


def test_queues_asterisk_conf_is_written_from_routing(tmp_path: Path) -> None:
    """`hotline queues --asterisk-conf` writes each routing.yaml queue and its region
    queues, with no members."""
    env = {"HOTLINE_ROUTING_PATH": str(routing_for_tests(tmp_path))}
    done = hotline("queues", "--asterisk-conf", env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "[quick]\nstrategy = linear\ntimeout = 5\n" in text
    assert "[center]\nstrategy = rrmemory\ntimeout = 15\n" in text
    assert "[center-hefei]" in text
    assert "[property-hefei]" in text
    assert "member =>" not in text
