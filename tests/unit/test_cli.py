"""The command line in this process (`main(argv)`): what `hotline call` prints about a
call (reporters masked, and what happened when it did not end in time), files the
report and the export are asked to write, and what `hotline check` says of routing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.core.calls.tracking import Call, CallState, EndReason, Outcome
from hotline.ledger.store import Ledger
from tests.cli import hotline
from tests.fakeami import Action, FakeAmi, event, response

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
CALLER = "13955112345"


def ami_env(ami: FakeAmi, ledger: Path) -> dict[str, str | None]:
    return {"HOTLINE_AMI_PORT": str(ami.port), "HOTLINE_AMI_SECRET": ami.secret,
            "HOTLINE_LEDGER_PATH": str(ledger)}


def answering(ami: FakeAmi, ledger: Path, *, category: str | None, ends: bool) -> None:
    """Asterisk as the fake plays it: the originated call reaches the IVR, then either
    hangs up (the service having written its ledger row in `category`) or records a
    voicemail that outlasts the command's --timeout."""

    async def on_originate(action: Action) -> str | None:
        if action.name != "Originate":
            return None
        linkedid = action.get("ChannelId") or ""
        channel = {"Channel": "Local/s@caller-00000001;1", "Linkedid": linkedid}
        frames = response("Originate successfully queued") + event(
            "AsyncAGIStart", channel)
        if not ends:
            return frames + event("AGIExecStart", {**channel, "Command":
                                                  "RECORD FILE /tmp/vm wav # 120000"})
        async with await Ledger.open(ledger) as book:
            await book.upsert_calls([Call(
                linkedid, channel["Channel"], linkedid, CALLER, "纳税人王五",
                CallState.ENDED, T0, category=category, digits="21", queue="center",
                ended_at=T0, outcome=Outcome.ANSWERED, end_reason=EndReason.HANGUP)], T0)
        return frames + event("Hangup", {**channel, "Uniqueid": linkedid, "Cause": "16"})

    ami.handler = on_originate


@pytest.mark.parametrize("output", [[], ["--json"]])
async def test_hotline_call_masks_a_complainant_in_its_output(tmp_path: Path,
                                                               output: list[str]) -> None:
    """`hotline call` shows a complaint call's ledger row with the caller's number and
    name masked, as every other listing does (text and JSON)."""
    ledger = tmp_path / "ledger.sqlite3"
    async with FakeAmi() as ami:
        answering(ami, ledger, category="complaint", ends=True)
        res = await asyncio.to_thread(hotline, "call", CALLER, "--name", "纳税人王五",
                                      *output, env=ami_env(ami, ledger))
    assert res.returncode == 0, res.stderr
    assert CALLER not in res.stdout
    assert "纳税人王五" not in res.stdout
    assert "139****2345" in res.stdout
    if output:
        row = json.loads(res.stdout)["ledger"]
        assert (row["caller_number"], row["caller_name"], row["masked"]) == (
            "139****2345", "纳***", True)


async def test_hotline_call_shows_a_consultation_caller_in_full(tmp_path: Path) -> None:
    """A caller who is not a reporter keeps the number in `hotline call`'s output."""
    ledger = tmp_path / "ledger.sqlite3"
    async with FakeAmi() as ami:
        answering(ami, ledger, category="consultation", ends=True)
        res = await asyncio.to_thread(hotline, "call", CALLER, "--json",
                                      env=ami_env(ami, ledger))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ledger"]["caller_number"] == CALLER


async def test_a_call_outlasting_the_timeout_says_where_it_was(tmp_path: Path) -> None:
    """A call still recording a voicemail when --timeout runs out is reported as such,
    not as an AMI that could not be reached."""
    ledger = tmp_path / "ledger.sqlite3"
    async with FakeAmi() as ami:
        answering(ami, ledger, category=None, ends=False)
        res = await asyncio.to_thread(hotline, "call", CALLER, "--timeout", "1",
                                      env=ami_env(ami, ledger))
    assert res.returncode == 1
    assert "could not reach AMI" not in res.stderr
    line, = res.stderr.splitlines()
    assert line.startswith("hotline: [test-call-timeout] call hotline-call-")
    assert "had not ended after 1 s: it was leaving a voicemail" in line
    assert "--timeout" in line


def test_an_unreachable_ami_is_named_as_such(tmp_path: Path) -> None:
    """`hotline call` with nothing listening on the AMI port ends with the one line that
    it could not reach AMI at that address (after the gateway's logged retries)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    res = hotline("call", CALLER, env={"HOTLINE_AMI_PORT": str(port),
                                       "HOTLINE_AMI_SECRET": "x",
                                       "HOTLINE_AMI_CONNECT_TIMEOUT": "0.5",
                                       "HOTLINE_LEDGER_PATH": str(tmp_path / "l.sqlite3")})
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1] == (f"hotline: [ami-unreachable] could not reach AMI at "
                                  f"127.0.0.1:{port}")


@pytest.mark.parametrize(("args", "message"), [
    (["call", "abc"], "NUMBER 'abc' is not a phone number"),
    (["call", CALLER, "--to", "12a"], "'12a' is not a number to dial"),
    (["call", CALLER, "--keys", "1x"], "--keys: 'x' is not a key"),
    (["ledger", "list", "--limit", "0"], "0 must be at least 1"),
    (["call"], "the following arguments are required: number"),
])
def test_bad_arguments_get_a_clear_error(args: list[str], message: str) -> None:
    """A malformed number, extension, key or limit is refused with a message that names
    it, before anything is dialled."""
    res = hotline(*args, env={"HOTLINE_AMI_PORT": "1", "HOTLINE_AMI_SECRET": "x"})
    assert res.returncode in (1, 2)
    assert message in res.stderr


# -- files to write -----------------------------------------------------------------------


def empty_ledger(tmp_path: Path) -> dict[str, str | None]:
    path = tmp_path / "ledger.sqlite3"

    async def make() -> None:
        async with await Ledger.open(path):
            pass

    asyncio.run(make())
    return {"HOTLINE_LEDGER_PATH": str(path)}


EXPORT = ["ledger", "export", "--from", "2026-11-01", "--to", "2026-11-30", "--output"]
REPORT = ["report", "--quarter", "2026Q4", "--output"]


@pytest.mark.parametrize("command", [EXPORT, REPORT], ids=["export", "report"])
@pytest.mark.parametrize(("where", "problem"), [
    ("missing/out.csv", "the folder {tmp}/missing does not exist"),
    (".", "{tmp} is a folder: name a file to write"),
])
def test_a_bad_output_path_is_one_line_naming_the_problem(
        tmp_path: Path, command: list[str], where: str, problem: str) -> None:
    """`ledger export --output` and `report --output` into a missing folder or onto a
    folder fail with one line that says which, and write nothing."""
    target = tmp_path / where if where != "." else tmp_path
    res = hotline(*command, str(target), env=empty_ledger(tmp_path))
    assert res.returncode == 1
    line, = res.stderr.splitlines()
    assert line.startswith("hotline: [")
    assert problem.format(tmp=tmp_path) in line
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", [EXPORT, REPORT], ids=["export", "report"])
def test_an_output_extension_naming_no_format_is_refused(tmp_path: Path,
                                                          command: list[str]) -> None:
    """An --output x.docx is refused (neither command writes Word files) rather than
    filled with CSV or HTML."""
    target = tmp_path / "x.docx"
    res = hotline(*command, str(target), env=empty_ledger(tmp_path))
    assert res.returncode == 1
    assert "[output-bad-extension]" in res.stderr
    assert "x.docx: the extension .docx names no format" in res.stderr
    assert not target.exists()


@pytest.mark.parametrize(("name", "starts"), [("r.csv", "指标"), ("r.json", "{"),
                                              ("r.html", "<!DOCTYPE html>"),
                                              ("r.pdf", "%PDF-"), ("r.xlsx", "PK")])
def test_the_report_is_written_in_the_format_its_file_names(tmp_path: Path, name: str,
                                                            starts: str) -> None:
    """`report --output r.csv` writes CSV (json, html, pdf, xlsx alike: an XLSX is a
    zip) without --format."""
    target = tmp_path / name
    res = hotline(*REPORT, str(target), env=empty_ledger(tmp_path))
    assert res.returncode == 0, res.stderr
    assert target.read_bytes().removeprefix("\ufeff".encode()).startswith(starts.encode())


def test_a_format_contradicting_the_extension_is_refused(tmp_path: Path) -> None:
    """`report --format csv --output r.html` is refused: the file would lie."""
    res = hotline(*REPORT, str(tmp_path / "r.html"), "--format", "csv",
                  env=empty_ledger(tmp_path))
    assert res.returncode == 1
    assert "--format csv but the file's extension says html" in res.stderr


# -- hotline check ----------------------------------------------------------------------------


def test_check_with_a_broken_routing_file_does_not_call_it_missing(tmp_path: Path) -> None:
    """After reporting an error inside routing.yaml, `hotline check`'s summary says the
    queues went unchecked because that file has errors, not that there is none."""
    routing = tmp_path / "routing.yaml"
    routing.write_text("queues: [\n", encoding="utf-8")
    res = hotline("check", env={"HOTLINE_ROUTING_PATH": str(routing)})
    assert res.returncode == 1
    summary = res.stdout.splitlines()[-1]
    assert "no routing file" not in summary
    assert summary.endswith(f"(queues not checked: {routing} has errors)")


def test_check_without_a_routing_file_says_so(tmp_path: Path) -> None:
    """With no routing.yaml at all, `hotline check` says the queues were not checked for
    want of one."""
    res = hotline("check", env={"HOTLINE_ROUTING_PATH": str(tmp_path / "none.yaml")})
    assert res.stdout.splitlines()[-1].endswith("(queues not checked: no routing file)")
