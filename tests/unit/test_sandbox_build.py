"""Building the sandbox: an interrupted build is redone, two builds at once wait, root."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from hotline.pbx import sandbox as sandbox_mod
from hotline.pbx.sandbox import Sandbox, SandboxError


def test_interrupted_build_is_redone_not_used(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A half-written build is not taken as built; building again starts over."""
    sb = Sandbox(tmp_path, Path("unused"))
    sb.partial.mkdir(parents=True)
    (sb.partial / "half-written").write_text("x")
    assert not sb.is_built()
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], progress: object, what: str) -> None:
        calls.append(cmd)
        raise SandboxError(f"{what} failed (simulated)")

    monkeypatch.setattr(sandbox_mod, "_run_streamed", fake_run)
    with pytest.raises(SandboxError, match="simulated"):
        sb.build()
    assert calls
    assert calls[0][0] == "debootstrap"
    # The leftover was removed before the new build started, and nothing is "built".
    assert not (sb.partial / "half-written").exists()
    assert not sb.is_built()


def test_a_second_build_waits_for_the_first(tmp_path: Path) -> None:
    """A second build waits for the first one's lock, then uses its result."""
    sb = Sandbox(tmp_path, Path("unused"))
    tmp_path.mkdir(exist_ok=True)
    (sb.root).mkdir()
    (sb.root / sandbox_mod.COMPLETE_MARK).write_text('{"asterisk_version": "Asterisk 22.1"}')
    lines: list[str] = []
    with open(tmp_path / "build.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result: list[str] = []
        worker = threading.Thread(target=lambda: result.append(sb.build(lines.append)))
        worker.start()
        time.sleep(0.3)
        assert result == []  # still waiting for the lock
        fcntl.flock(held, fcntl.LOCK_UN)
        worker.join(5)
    assert result == ["Asterisk 22.1"]
    assert "another build is running" in lines[0]


def test_without_root_it_says_how_to_use_an_existing_asterisk(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Building without root fails with sandbox-needs-root, pointing to an existing
    Asterisk."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError) as info:
        Sandbox(tmp_path, Path("unused")).build()
    assert info.value.code == "sandbox-needs-root"
    assert "existing Asterisk" in str(info.value)


def test_generated_config_is_kept_across_restarts(tmp_path: Path) -> None:
    """queues.conf written from routing.yaml survives an `up` that does not pass it again
    (a restart); a new one replaces it."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "modules.conf").write_text("[modules]\n")
    sb = Sandbox(tmp_path / "cache", templates)
    (sb.root / "usr/lib/x86_64-linux-gnu/asterisk/modules").mkdir(parents=True)
    inst = sb.instance("unit", 5999)
    inst.render_config(generated={"queues.conf": "[center]\n"})
    inst.render_config()
    assert (inst.dir / "etc/queues.conf").read_text() == "[center]\n"
    assert (inst.dir / "etc/modules.conf").is_file()
    inst.render_config(generated={"queues.conf": "[iit]\n"})
    assert (inst.dir / "etc/queues.conf").read_text() == "[iit]\n"
    with pytest.raises(SandboxError, match=r"not a \.conf file name"):
        inst.render_config(generated={"../escape.conf": ""})
    assert (inst.dir / "etc/queues.conf").read_text() == "[iit]\n"  # nothing half-applied
