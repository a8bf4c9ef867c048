"""Shared fixtures. Real-Asterisk tests share one sandbox instance per test session, on a
free AMI port so they run beside a developer's `make run`.

HOTLINE_REQUIRE_ASTERISK=1 (set by CI) turns "cannot start Asterisk here" into a failure
instead of a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.pbx.sandbox import Instance, Sandbox, SandboxError, default_cache_dir, find_free_port

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "config" / "asterisk"


def _require() -> bool:
    return os.environ.get("HOTLINE_REQUIRE_ASTERISK") == "1"


def _unavailable(reason: str) -> None:
    if _require():
        pytest.fail(f"real Asterisk required (HOTLINE_REQUIRE_ASTERISK=1): {reason}")
    pytest.skip(f"real Asterisk not available: {reason}")


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    if os.geteuid() != 0:
        _unavailable("the sandbox needs root")
    sb = Sandbox(default_cache_dir(), TEMPLATES)
    try:
        sb.build(lambda line: print(line, flush=True))
    except SandboxError as exc:
        _unavailable(str(exc))
    return sb


@pytest.fixture(scope="session")
def asterisk(sandbox: Sandbox) -> Iterator[Instance]:
    """One Asterisk for the whole session, on a free port."""
    inst = sandbox.instance(f"test-{os.getpid()}", find_free_port())
    try:
        inst.up()
    except SandboxError as exc:
        _unavailable(str(exc))
    yield inst
    inst.down()
    _remove_instance_dir(inst)


def _remove_instance_dir(inst: Instance) -> None:
    import shutil

    if inst.pid() is None and inst.dir.name.startswith("test-"):
        shutil.rmtree(inst.dir, ignore_errors=True)
