"""Broken YAML files: one line naming the file and the right line, fast, bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from hotline.app.settings import load_settings
from hotline.app.wiring import routing_from
from hotline.common.errors import ConfigError, HotlineError, RoutingInvalid, YamlSyntaxError
from hotline.common.yamlsrc import MAX_BYTES, MAX_DEPTH, Problem, load_file, load_text

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True))

# name -> (text, the line the error must name, words the message must hold)
BROKEN: dict[str, tuple[str, int, tuple[str, ...]]] = {
    # The `[` of line 6 is never closed: PyYAML gives up only at the end of the file.
    "unclosed [": ("a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nqueues: [center, vip,\n"
                   + "".join(f"  q{i},\n" for i in range(47)) + "x: 1\n",
                   6, ("'['", "not closed", "gave up at line 55")),
    "unclosed {": ("menus:\n  main: {greeting: hi\n  other: 1\n", 2,
                   ("'{'", "not closed", "gave up at line 3")),
    "unclosed quote": ('a: 1\nb: "hello\nc: 3\nd: 4\n', 2,
                       ("no closing quote", "gave up at line 5")),
    "indented too deep": ("overrides:\n  - date: 2026-09-15\n     closed: true\n", 3,
                          ("indented deeper than the key on line 2",)),
    "indented too little": ("menus:\n  main:\n    greeting: hi\n   options: {}\n", 4,
                            ("not indented like the keys", "line 2")),
    # PyYAML names line 4 here (where the ':' is); the key without ':' is on line 3.
    "a key without ':'": ("menus:\n  main:\n    greeting hi\n    options: {}\n", 3,
                          ("no ':' after its key", "line 4")),
    "a tab": ("menus:\n\tmain: {}\n", 2, ("tab", "spaces")),
    "NUL bytes": ("a: 1\nb: x\x00\x00y\n", 2, ("#x0000", "not allowed")),
    "an undefined alias": ("a: 1\nb: *nowhere\n", 2, ("nowhere", "anchor")),
    "billion laughs": (LAUGHS, 1, ("aliases", "repeat")),
    "deep flow nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1,
                          (f"more than {MAX_DEPTH} levels",)),
    "deep block nesting": ("".join("  " * i + f"k{i}:\n" for i in range(200)), MAX_DEPTH,
                           (f"more than {MAX_DEPTH} levels",)),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_gives_one_line_naming_file_and_line(tmp_path: Path, name: str) -> None:
    """Each broken file gives one YamlSyntaxError line `file:LINE: invalid YAML: ...` at
    the line where the broken construct is, within 5 s."""
    text, line, words = BROKEN[name]
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(YamlSyntaxError) as info:
        load_file(path)
    assert time.monotonic() - started < 5
    [problem] = info.value.problems
    assert "\n" not in problem
    assert problem.startswith(f"{path}:{line}: invalid YAML: "), problem
    for word in words:
        assert word in problem, (word, problem)
    assert isinstance(info.value, HotlineError)


def test_alias_bomb_is_refused_within_bounded_memory() -> None:
    """Billion laughs is refused before its expansion takes more than 100 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(YamlSyntaxError):
            load_text(LAUGHS, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_modest_aliases_still_load() -> None:
    """Anchors and aliases used as the dialplans use them (shared pieces) still load."""
    source = load_text("x-ask: &ask {play: hi}\nmenus: {a: *ask, b: *ask}\n", "p.yaml")
    assert source.data["menus"] == {"a": {"play": "hi"}, "b": {"play": "hi"}}
    assert source.line_of(("menus", "b", "play")) == 1


def test_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A file above MAX_BYTES is refused at once, naming its size."""
    path = tmp_path / "huge.yaml"
    with path.open("w", encoding="utf-8") as out:
        for i in range(400_000):
            out.write(f"k{i}: value number {i}\n")
    started = time.monotonic()
    with pytest.raises(YamlSyntaxError) as info:
        load_file(path)
    assert time.monotonic() - started < 1
    assert path.stat().st_size > MAX_BYTES
    size = path.stat().st_size / 1024 / 1024
    assert info.value.problems == [f"{path}:1: the file is {size:.1f} MiB: a configuration "
                                   "file is at most 1 MiB"]


def test_not_utf8_names_its_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 (a GBK file) are reported at their line."""
    path = tmp_path / "calendar.yaml"
    path.write_bytes(b"hours: []\nreason: " + "台风".encode("gbk") + b"\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_file(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:2: not UTF-8 text: ")


def test_syntax_error_in_routing_is_a_routing_error_at_its_line(tmp_path: Path) -> None:
    """Through wiring, a broken routing.yaml is a RoutingInvalid at the opening line."""
    path = tmp_path / "routing.yaml"
    path.write_text(BROKEN["unclosed ["][0], encoding="utf-8")
    settings = load_settings(None, {"HOTLINE_ROUTING_PATH": str(path)})
    with pytest.raises(RoutingInvalid) as info:
        routing_from(settings)
    assert info.value.code == "routing-invalid"
    assert [p.line for p in info.value.problems if isinstance(p, Problem)] == [6]


def test_syntax_error_in_settings_is_a_config_error(tmp_path: Path) -> None:
    """A broken hotline.yaml is a ConfigError (config-invalid) naming file and line."""
    path = tmp_path / "hotline.yaml"
    path.write_text("ami:\n  port: [5038\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.code == "config-invalid"
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:2: invalid YAML: the list opened with '['")
