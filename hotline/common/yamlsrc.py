"""YAML documents that remember where each node came from.

Administrators edit YAML by hand, so every error must point at a file and a line:
`config/hotline.yaml:3: ami.port: Input should be a valid integer`. PyYAML gives line
marks only on the composed node tree; this module walks that tree once, builds plain
Python values, and records the line of every key and item by its path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hotline.common.errors import YamlSyntaxError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "PathKey", "Problem", "Sourced",
           "YamlSyntaxError", "format_path", "load_file", "load_text", "printable"]

PathKey = tuple[str | int, ...]
# Limits far above any real configuration (the largest dialplan is a few KiB) that keep a
# broken or hostile file from hanging the service or exhausting its memory: PyYAML reads
# about 1/3 MiB a second, composes recursively (a deep nest overflows Python's stack),
# and expands every alias again (`*a` nine times nine times ... : "billion laughs").
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 200_000


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


class Problem(str):
    """One finding about a file, `file:line: key.path: message`: text (so lists of them
    print, log and compare as lines) that also keeps its parts."""

    file: str
    line: int
    path: PathKey
    message: str
    severity: str

    def __new__(cls, file: str, line: int, path: Iterable[str | int], message: str,
                severity: str = "error") -> Problem:
        key = tuple(path)
        where = f"{file}:{line}"
        tag = "" if severity == "error" else f"{severity}: "
        # No path: the whole file (or a YAML error, which names its own key).
        text = (f"{where}: {tag}{message}" if not key
                else f"{where}: {format_path(key)}: {tag}{message}")
        # One printable line, whatever a file holds (a key with a lone surrogate or a
        # newline, a file name that is not UTF-8): printing or logging it cannot fail.
        # A value quoted in a message is cut: a line stays readable.
        self = super().__new__(cls, _shortened(printable(text)))
        self.file, self.line, self.path, self.message, self.severity = (
            file, line, key, _shortened(printable(message)), severity)
        return self

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Problem, (self.file, self.line, self.path, self.message, self.severity))


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


MAX_LINE = 1000


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_LINE else f"{text[:MAX_LINE - 30]}… ({len(text)} characters)"


def printable(text: str) -> str:
    """`text` with control characters, lone surrogates (which no UTF-8 output can
    encode) and bidirectional overrides written as escapes (\\x07, \\ud800): one line
    that a terminal or a log shows as it is."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


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
    """Parse one YAML document from `text`; an empty document loads as an empty mapping.
    Raises YamlSyntaxError naming the file and line, in plain words."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YamlSyntaxError(filename, 1, _too_big(size))
    try:
        # The reader checks every character when it is created: inside the try.
        loader = _Loader(text, filename)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line, message = _explain(exc, text)
        raise YamlSyntaxError(filename, line, f"invalid YAML: {message}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.character, int) else 1
        what = (f"character #x{exc.character:04x}" if isinstance(exc.character, int)
                else "a character")
        raise YamlSyntaxError(filename, line, f"invalid YAML: {what} is not allowed in YAML "
                              "text (control characters such as NUL)") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(filename, 1, f"invalid YAML: {exc}") from None
    except RecursionError:  # a safety net: _Loader stops at MAX_DEPTH long before this
        raise YamlSyntaxError(filename, 1, "invalid YAML: nested too deeply") from None
    lines: dict[PathKey, int] = {}
    written: dict[PathKey, str] = {}
    if node is None:
        loader.dispose()
        return Sourced(filename, {}, {(): 1})
    try:
        data = _Walker(loader, filename, lines, written).walk(node, ())
    except RecursionError:  # a safety net: the walker stops at MAX_DEPTH long before this
        raise YamlSyntaxError(filename, 1, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return Sourced(filename, data, lines, written)


def load_file(path: Path, display: str | None = None) -> Sourced:
    """Read and parse `path`; errors name it as `display` (default: the path as given).
    FileNotFoundError (and other OSErrors) pass through."""
    name = display or str(path)
    with path.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)  # never read a huge file whole
    if len(raw) > MAX_BYTES:
        raise YamlSyntaxError(name, 1, _too_big(path.stat().st_size))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(name, line, f"not UTF-8 text: {exc.reason}") from None
    return load_text(text, name)


def _too_big(size: int) -> str:
    return (f"the file is {size / 1024 / 1024:.1f} MiB: a configuration file is at most "
            f"{MAX_BYTES // 1024 // 1024} MiB")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH (its composer recurses)."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._filename = filename

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlSyntaxError(self._filename, mark.line + 1,
                                      f"invalid YAML: nested more than {MAX_DEPTH} levels "
                                      "deep")
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


# What PyYAML's context says was being read -> the construct, in plain words.
_OPENED = {
    "while parsing a flow sequence": "the list opened with '[' here is not closed with ']'",
    "while parsing a flow mapping": "the mapping opened with '{' here is not closed with '}'",
    "while scanning a quoted scalar": "the quoted text that starts here has no closing quote",
}


def _explain(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """(the line to report, the message) for a PyYAML error. PyYAML names where it gave
    up (problem_mark), which for an unclosed bracket or quote can be far below the
    mistake; its context_mark is where the construct it was reading started."""
    problem = exc.problem or exc.context or "invalid YAML"
    at = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    start = exc.context_mark.line + 1 if exc.context_mark is not None else None
    context = exc.context or ""
    if context in _OPENED and start is not None:
        gave_up = f" (the parser gave up at line {at}: {problem})" if at else ""
        return start, _OPENED[context] + gave_up
    if at is None:
        return start or 1, problem
    column = exc.problem_mark.column + 1 if exc.problem_mark is not None else 0
    if "'\\t'" in problem:
        return at, f"a tab at column {column}: YAML indents with spaces only"
    if problem.startswith("expected <block end>") and start is not None:
        return at, (f"this line is not indented like the keys it belongs with (column "
                    f"{column}; the block starts at line {start}): indent each level "
                    "with the same number of spaces")
    if problem == "could not find expected ':'" and start is not None:
        return start, (f"this line has no ':' after its key (the parser gave up at line "
                       f"{at})")
    if problem == "mapping values are not allowed here":
        return _misplaced_colon(text, at, column)
    if problem.startswith("found undefined alias"):
        return at, f"{problem}: an alias (*name) needs an anchor (&name) above it"
    if context and start is not None and start != at:
        return at, f"{problem} ({context} that starts at line {start})"
    return at, problem


def _misplaced_colon(text: str, at: int, column: int) -> tuple[int, str]:
    """A ':' PyYAML refuses: plain text that ran on from the line above (a key without its
    ':' there, or this line indented deeper than that line's key), or ': ' in a value."""
    lines = text.split("\n")
    above = next((n for n in range(at - 1, 0, -1)
                  if lines[n - 1].strip() and not lines[n - 1].lstrip().startswith("#")), None)
    if above is not None:
        prev = lines[above - 1].split(" #")[0].rstrip()
        body = prev.lstrip().removeprefix("- ").lstrip()
        indent = len(lines[at - 1]) - len(lines[at - 1].lstrip())
        key_column = len(prev) - len(prev.lstrip()) + (len(prev.lstrip()) - len(body))
        if ":" not in body and not body.endswith(("[", "{", ",")):
            return above, (f"this line has no ':' after its key: YAML reads it and line {at} "
                           f"as one text and refuses the ':' on line {at}")
        if ": " in body and indent > key_column:
            return at, (f"this line is indented deeper than the key on line {above} "
                        f"(column {indent + 1}, not {key_column + 1}): YAML reads it as the "
                        f"rest of line {above}'s value and refuses its ':'")
    return at, (f"':' is not allowed here (column {column}): quote a value that holds "
                "': ', or check the indentation")


class _Walker:
    """Builds plain values from the node tree, recording the line of every path."""

    def __init__(self, loader: yaml.SafeLoader, filename: str, lines: dict[PathKey, int],
                 written: dict[PathKey, str]) -> None:
        self.loader = loader
        self.fn = filename
        self.lines = lines
        self.written = written
        self.values = 0
        self.seen: set[int] = set()
        self.repeated: yaml.Node | None = None  # the first node an alias repeats
        self.inside: set[int] = set()  # the collections being walked (this path's)

    def walk(self, node: yaml.Node, path: PathKey) -> Any:
        # The composer bounds the nesting as written; an alias repeats a whole collection
        # where it stands, so the values built can nest deeper (or, with `&r [*r]`, hold
        # themselves): bounded again here, on the tree as built.
        if len(path) > MAX_DEPTH:
            raise YamlSyntaxError(self.fn, node.start_mark.line + 1,
                                  f"invalid YAML: nested more than {MAX_DEPTH} levels deep "
                                  "(counting what the aliases (*name) repeat)")
        if id(node) in self.inside:
            raise YamlSyntaxError(self.fn, node.start_mark.line + 1,
                                  "invalid YAML: the anchor (&name) here holds an alias "
                                  "(*name) of itself: a value cannot contain itself")
        collection = isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
        if not collection:
            return self._walk(node, path)
        self.inside.add(id(node))
        try:
            return self._walk(node, path)
        finally:
            self.inside.discard(id(node))

    def _walk(self, node: yaml.Node, path: PathKey) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            # Only aliases make this many values out of a file of at most MAX_BYTES.
            anchor = self.repeated or node
            raise YamlSyntaxError(
                self.fn, anchor.start_mark.line + 1,
                f"invalid YAML: more than {MAX_VALUES} values: the aliases (*name) of the "
                "anchor here repeat it too often")
        lines, fn = self.lines, self.fn
        lines[path] = node.start_mark.line + 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if node.tag not in _PLAIN_TAGS:
                # e.g. !!python/object/apply: SafeLoader builds no object, but a value
                # that says it is something else must not be read as a plain one.
                raise YamlSyntaxError(fn, node.start_mark.line + 1,
                                      f"{format_path(path)}: the tag {node.tag!r} is not "
                                      "allowed: write a plain mapping or list")
            if id(node) in self.seen:
                self.repeated = self.repeated or node
            self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlSyntaxError(
                        fn, key_node.start_mark.line + 1, "merge keys ('<<') are not supported"
                    )
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlSyntaxError(fn, key_node.start_mark.line + 1,
                                          "a key must be a scalar")
                key = self.loader.construct_object(key_node, deep=True)
                if isinstance(key, (list, dict)):
                    raise YamlSyntaxError(fn, key_node.start_mark.line + 1,
                                          "a key must be a scalar")
                # Keys are compared as text: `1:` and `"1":` mean the same key to an admin.
                skey = key if isinstance(key, str) else _scalar_text(key_node, key)
                if skey in result:
                    raise YamlSyntaxError(
                        fn, key_node.start_mark.line + 1,
                        f"{format_path((*path, skey))}: duplicate key '{skey}'")
                result[skey] = self.walk(value_node, (*path, skey))
                lines[(*path, skey)] = key_node.start_mark.line + 1
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError) as exc:
            # e.g. `2027-02-30`: YAML takes it for a date and the date does not exist.
            raise YamlSyntaxError(fn, node.start_mark.line + 1,
                                  f"{format_path(path)}: cannot read {node.value!r}: {exc}",
                                  ) from None
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and isinstance(node.value, str) and node.value != str(value)):
            self.written[path] = node.value
        return value


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _scalar_text(node: yaml.Node, value: Any) -> str:
    raw = node.value if isinstance(node, yaml.ScalarNode) else None
    return raw if isinstance(raw, str) and raw else str(value)
