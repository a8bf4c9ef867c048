"""YAML documents that remember where each node came from.

Administrators edit YAML by hand, so every error must point at a file and a line:
`config/hotline.yaml:3: ami.port: Input should be a valid integer`. PyYAML gives line
marks only on the composed node tree; this module walks that tree once, builds plain
Python values, and records the line of every key and item by its path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Sourced:
    """A loaded YAML document: its value and the 1-based line of every path in it."""

    filename: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    # Numbers whose text differs from the number YAML read (0551 is octal 361, 1_000 is
    # 1000), as written: to tell an admin who meant text what happened to it.
    written: dict[PathKey, str] = field(default_factory=dict)

    def line_of(self, path: Iterable[str | int]) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 for the root)."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def where(self, path: Iterable[str | int]) -> str:
        """`file:line` for `path`."""
        return f"{self.filename}:{self.line_of(path)}"


class YamlSyntaxError(ValueError):
    """The text is not valid YAML, or uses a construct we refuse (duplicate keys)."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.problem = message


def format_path(path: Iterable[str | int]) -> str:
    """`menus.main.options."9"`: dotted, with keys that need it quoted, list items in []."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _plain_key(part) else f'"{part}"'
        out += ("." if out else "") + text
    return out or "(top level)"


def _plain_key(key: str) -> bool:
    return bool(key) and (key[0].isalpha() or key[0] == "_") and all(
        c.isalnum() or c in "_-" for c in key
    )


def load_text(text: str, filename: str) -> Sourced:
    """Parse one YAML document from `text`; an empty document loads as an empty mapping."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(filename, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(filename, 1, f"invalid YAML: {exc}") from None
    lines: dict[PathKey, int] = {}
    written: dict[PathKey, str] = {}
    if node is None:
        loader.dispose()
        return Sourced(filename, {}, {(): 1})
    try:
        data = _walk(loader, node, (), lines, filename, written)
    finally:
        loader.dispose()
    return Sourced(filename, data, lines, written)


def load_file(path: Path, display: str | None = None) -> Sourced:
    """Read and parse `path`; errors name it as `display` (default: the path as given)."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(name, 1, f"not UTF-8 text: {exc.reason}") from None
    return load_text(text, name)


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, lines: dict[PathKey, int], fn: str,
    written: dict[PathKey, str],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlSyntaxError(
                    fn, key_node.start_mark.line + 1, "merge keys ('<<') are not supported"
                )
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise YamlSyntaxError(fn, key_node.start_mark.line + 1, "a key must be a scalar")
            # Keys are compared as text: `1:` and `"1":` mean the same key to an admin.
            skey = key if isinstance(key, str) else _scalar_text(key_node, key)
            if skey in result:
                where = format_path((*path, skey))
                raise YamlSyntaxError(
                    fn, key_node.start_mark.line + 1, f"{where}: duplicate key '{skey}'"
                )
            result[skey] = _walk(loader, value_node, (*path, skey), lines, fn, written)
            lines[(*path, skey)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*path, i), lines, fn, written)
                for i, item in enumerate(node.value)]
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:
        # e.g. `2027-02-30`: YAML takes it for a date and the date does not exist.
        raise YamlSyntaxError(fn, node.start_mark.line + 1,
                              f"{format_path(path)}: cannot read {node.value!r}: {exc}",
                              ) from None
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and isinstance(node.value, str) and node.value != str(value)):
        written[path] = node.value
    return value


def _scalar_text(node: yaml.Node, value: Any) -> str:
    raw = node.value if isinstance(node, yaml.ScalarNode) else None
    return raw if isinstance(raw, str) and raw else str(value)
