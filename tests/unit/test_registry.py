"""The dialplan files: every file loaded together; calls keep their plan; the snapshot."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from hotline.core.configuration import Configuration
from hotline.core.ivr.engine import CallContext, JoinQueue, Key, start, step
from hotline.features.ivr.registry import DialplanFiles, load_all


def plan_text(name: str, queue: str = "center", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        # {name}: a one-option dialplan
        dialplan: "{name}"
        prompts:
          hi: Hello
        menus:
          main:
            greeting: hi
            options:
              "1": {{queue: {queue}}}
        """) + extra


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def touch_later(path: Path) -> None:
    """Move the file's mtime on, so a same-size rewrite is noticed whatever the clock."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_load_all_reads_every_file_of_a_directory(tmp_path: Path) -> None:
    """load_all loads each *.yaml of a directory under its dialplan name."""
    write(tmp_path / "plans" / "a.yaml", plan_text("12366"))
    write(tmp_path / "plans" / "b.yaml", plan_text("12345"))
    write(tmp_path / "plans" / "notes.txt", "not a dialplan")
    result = load_all([tmp_path / "plans"], display_root=tmp_path)
    assert result.problems == []
    assert set(result.plans) == {"12366", "12345"}
    assert result.plans["12366"].source == "plans/a.yaml"


def test_load_all_with_no_files(tmp_path: Path) -> None:
    """No dialplan file at all is an error."""
    (tmp_path / "empty").mkdir()
    result = load_all([tmp_path / "empty"])
    assert [str(p) for p in result.errors] == [f"{tmp_path / 'empty'}:1: no dialplan files found"]


def test_duplicate_dialplan_names_are_an_error(tmp_path: Path) -> None:
    """Two files with the same dialplan name: an error at the second file's `dialplan:` line."""
    write(tmp_path / "plans" / "a.yaml", plan_text("12366"))
    write(tmp_path / "plans" / "b.yaml", plan_text("12366"))
    result = load_all([tmp_path / "plans"], display_root=tmp_path)
    assert [str(p) for p in result.errors] == [
        "plans/b.yaml:2: dialplan: dialplan '12366' is also defined in plans/a.yaml"]


def test_problems_name_files_relative_to_the_display_root(tmp_path: Path) -> None:
    """Problems name a file relative to display_root, with its line."""
    write(tmp_path / "plans" / "a.yaml", plan_text("12366", queue="nowhere"))
    result = load_all([tmp_path / "plans"], queues=["center"], display_root=tmp_path)
    assert [str(p) for p in result.errors] == [
        "plans/a.yaml:9: menus.main.options.\"1\".queue: unknown queue 'nowhere' "
        "(routing knows: center)"]
    assert result.plans == {}


def snapshot(files: DialplanFiles, generation: int = 1) -> Configuration:
    result = files.load()
    assert result.errors == []
    return Configuration(result.plans, generation=generation)


def test_load_with_warnings_has_no_errors(tmp_path: Path) -> None:
    """Warnings do not block a load (nor a reload); they are still reported."""
    write(tmp_path / "a.yaml", plan_text("12366", extra="  spare:\n    greeting: hi\n"
                                         "    options: {'1': hangup}\n"))
    files = DialplanFiles([tmp_path], display_root=tmp_path)
    result = files.load()
    assert result.errors == []
    assert [str(p) for p in result.problems] == [
        "a.yaml:10: menus.spare: warning: menu is unreachable from the entry"]
    assert set(result.plans) == {"12366"}


def test_a_call_keeps_its_plan_across_a_reload(tmp_path: Path) -> None:
    """A call in progress keeps the very plan object it started with; new calls get the new."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    files = DialplanFiles([tmp_path])
    held = snapshot(files).dialplan_for("12366")
    assert held is not None
    session, _ = start(held, CallContext("0551", "open"))
    write(a, plan_text("12366", queue="iit"))
    fresh = snapshot(files, 2).dialplan_for("12366")
    assert fresh is not held
    assert fresh is not None
    assert fresh.version != held.version
    assert session.plan is held
    _, command = step(session, Key("1"))
    assert command == JoinQueue("center")  # the old version, to the end of the call
    _, command = step(start(fresh, CallContext("0551", "open"))[0], Key("1"))
    assert command == JoinQueue("iit")


def test_changed_notices_a_modified_file(tmp_path: Path) -> None:
    """changed() is false right after a load and true once a file is modified."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    files = DialplanFiles([tmp_path])
    assert files.changed()  # never loaded
    files.load()
    assert not files.changed()
    write(a, plan_text("12366", queue="iit"))
    touch_later(a)
    assert files.changed()
    files.load()
    assert not files.changed()


def test_changed_notices_an_added_and_a_removed_file(tmp_path: Path) -> None:
    """A new or deleted dialplan file counts as a change."""
    write(tmp_path / "a.yaml", plan_text("12366"))
    files = DialplanFiles([tmp_path])
    files.load()
    b = write(tmp_path / "b.yaml", plan_text("12345"))
    assert files.changed()
    files.load()
    b.unlink()
    assert files.changed()


def test_changed_is_false_after_a_failed_load(tmp_path: Path) -> None:
    """A rejected reload is not retried until the files change again."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    files = DialplanFiles([tmp_path])
    files.load()
    write(a, "menus: [")
    touch_later(a)
    assert files.changed()
    assert files.load().errors
    assert not files.changed()


def test_dialplan_for(tmp_path: Path) -> None:
    """The plan named like the dialed number, else '12366' when there are several."""
    write(tmp_path / "a.yaml", plan_text("12366"))
    write(tmp_path / "b.yaml", plan_text("12345"))
    assert Configuration().dialplan_for("12366") is None  # nothing loaded
    config = snapshot(DialplanFiles([tmp_path]))
    assert config.dialplan_for("12345") is config.dialplans["12345"]
    assert config.dialplan_for("12366") is config.dialplans["12366"]
    assert config.dialplan_for("999") is config.dialplans["12366"]
    assert config.dialplan_for(None) is config.dialplans["12366"]


def test_dialplan_for_with_one_plan(tmp_path: Path) -> None:
    """With a single plan, every extension gets it, whatever its name."""
    write(tmp_path / "a.yaml", plan_text("hefei"))
    config = snapshot(DialplanFiles([tmp_path]))
    assert config.dialplan_for("12366") is config.dialplans["hefei"]


def test_dialplan_for_without_a_match(tmp_path: Path) -> None:
    """Several plans, none named like the number nor '12366': no plan."""
    write(tmp_path / "a.yaml", plan_text("a1"))
    write(tmp_path / "b.yaml", plan_text("b1"))
    assert snapshot(DialplanFiles([tmp_path])).dialplan_for("12366") is None


def test_a_snapshot_cannot_be_changed(tmp_path: Path) -> None:
    """A snapshot shared by calls is read-only: no field, no dialplan can be replaced."""
    import dataclasses

    import pytest

    write(tmp_path / "a.yaml", plan_text("12366"))
    config = snapshot(DialplanFiles([tmp_path]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.generation = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.dialplans["12345"] = config.dialplans["12366"]  # type: ignore[index]
