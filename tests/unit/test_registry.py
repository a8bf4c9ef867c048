"""The dialplan registry: every file loaded before any is swapped in; calls keep their plan."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from hotline.core.ivr.dialplan import ToQueue
from hotline.core.ivr.engine import CallContext, JoinQueue, Key, start, step
from hotline.features.ivr.registry import DialplanRegistry, load_all


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


def test_reload_swaps_in_a_valid_set(tmp_path: Path) -> None:
    """A first reload with valid files makes them live and counts a generation."""
    write(tmp_path / "a.yaml", plan_text("12366"))
    registry = DialplanRegistry([tmp_path])
    assert registry.plans == {}
    result = registry.reload()
    assert result.errors == []
    assert set(registry.plans) == {"12366"}
    assert registry.generation == 1


def test_reload_with_an_invalid_file_keeps_the_previous_plans(tmp_path: Path) -> None:
    """One invalid file rejects the whole reload: problems reported, the last good set live."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    write(tmp_path / "b.yaml", plan_text("12345"))
    registry = DialplanRegistry([tmp_path], display_root=tmp_path)
    registry.reload()
    before = registry.plans
    write(a, plan_text("12366", queue="iit"))
    write(tmp_path / "b.yaml", plan_text("12345") + "    colour: red\n")
    result = registry.reload()
    assert [str(p) for p in result.errors] == [
        "b.yaml:10: menus.main.colour: unknown key (expected one of: greeting, "
        "inter_digit_timeout, invalid, max_attempts, no_input, on_exhausted, options, "
        "self_service, timeout)"]
    assert registry.plans is before
    assert registry.generation == 1
    assert registry.plans["12366"].menus["main"].options["1"] == (ToQueue("center"),)


def test_reload_with_warnings_is_swapped_in(tmp_path: Path) -> None:
    """Warnings do not block a reload; they are still reported."""
    write(tmp_path / "a.yaml", plan_text("12366", extra="  spare:\n    greeting: hi\n"
                                         "    options: {'1': hangup}\n"))
    registry = DialplanRegistry([tmp_path], display_root=tmp_path)
    result = registry.reload()
    assert result.errors == []
    assert [str(p) for p in result.problems] == [
        "a.yaml:10: menus.spare: warning: menu is unreachable from the entry"]
    assert set(registry.plans) == {"12366"}


def test_a_call_keeps_its_plan_across_a_reload(tmp_path: Path) -> None:
    """A call in progress keeps the very plan object it started with; new calls get the new."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    registry = DialplanRegistry([tmp_path])
    registry.reload()
    held = registry.for_extension("12366")
    assert held is not None
    session, _ = start(held, CallContext("0551", "open"))
    write(a, plan_text("12366", queue="iit"))
    registry.reload()
    assert registry.generation == 2
    fresh = registry.for_extension("12366")
    assert fresh is not held
    assert fresh is not None
    assert fresh.version != held.version
    assert session.plan is held
    _, command = step(session, Key("1"))
    assert command == JoinQueue("center")  # the old version, to the end of the call
    _, command = step(start(fresh, CallContext("0551", "open"))[0], Key("1"))
    assert command == JoinQueue("iit")


def test_changed_notices_a_modified_file(tmp_path: Path) -> None:
    """changed() is false right after a reload and true once a file is modified."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    registry = DialplanRegistry([tmp_path])
    assert registry.changed()  # never loaded
    registry.reload()
    assert not registry.changed()
    write(a, plan_text("12366", queue="iit"))
    touch_later(a)
    assert registry.changed()
    registry.reload()
    assert not registry.changed()


def test_changed_notices_an_added_and_a_removed_file(tmp_path: Path) -> None:
    """A new or deleted dialplan file counts as a change."""
    write(tmp_path / "a.yaml", plan_text("12366"))
    registry = DialplanRegistry([tmp_path])
    registry.reload()
    b = write(tmp_path / "b.yaml", plan_text("12345"))
    assert registry.changed()
    registry.reload()
    b.unlink()
    assert registry.changed()


def test_changed_is_false_after_a_failed_reload(tmp_path: Path) -> None:
    """A rejected reload is not retried until the files change again."""
    a = write(tmp_path / "a.yaml", plan_text("12366"))
    registry = DialplanRegistry([tmp_path])
    registry.reload()
    write(a, "menus: [")
    touch_later(a)
    assert registry.changed()
    assert registry.reload().errors
    assert not registry.changed()


def test_for_extension(tmp_path: Path) -> None:
    """The plan named like the dialed number, else '12366' when there are several."""
    write(tmp_path / "a.yaml", plan_text("12366"))
    write(tmp_path / "b.yaml", plan_text("12345"))
    registry = DialplanRegistry([tmp_path])
    assert registry.for_extension("12366") is None  # nothing loaded yet
    registry.reload()
    assert registry.for_extension("12345") is registry.plans["12345"]
    assert registry.for_extension("12366") is registry.plans["12366"]
    assert registry.for_extension("999") is registry.plans["12366"]
    assert registry.for_extension(None) is registry.plans["12366"]


def test_for_extension_with_one_plan(tmp_path: Path) -> None:
    """With a single plan, every extension gets it, whatever its name."""
    write(tmp_path / "a.yaml", plan_text("hefei"))
    registry = DialplanRegistry([tmp_path])
    registry.reload()
    assert registry.for_extension("12366") is registry.plans["hefei"]


def test_for_extension_without_a_match(tmp_path: Path) -> None:
    """Several plans, none named like the number nor '12366': no plan."""
    write(tmp_path / "a.yaml", plan_text("a1"))
    write(tmp_path / "b.yaml", plan_text("b1"))
    registry = DialplanRegistry([tmp_path])
    registry.reload()
    assert registry.for_extension("12366") is None
