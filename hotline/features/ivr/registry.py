"""The dialplan files, loaded all together.

All files are loaded and compiled before any is used: one invalid file rejects the whole
set (the live configuration, hotline/app/live.py, then keeps the last good one). A call
keeps the compiled dialplan it started with, so calls in progress finish on their version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hotline.common.yamlsrc import YamlSyntaxError, load_file
from hotline.core.ivr.dialplan import Dialplan, Problem, load_dialplan

MAX_FILES = 50


@dataclass(frozen=True)
class LoadResult:
    plans: dict[str, Dialplan]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def dialplan_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.yaml") if p.is_file()))
        else:
            files.append(path)
    return files


def load_all(paths: Iterable[Path], queues: Iterable[str] | None = None,
             display_root: Path | None = None) -> LoadResult:
    plans: dict[str, Dialplan] = {}
    problems: list[Problem] = []
    known = set(queues) if queues is not None else None
    files = dialplan_files(paths)
    if not files:
        problems.append(Problem(", ".join(str(p) for p in paths) or "(none)", 1, (),
                                "no dialplan files found"))
    if len(files) > MAX_FILES:
        # Each file may take seconds to read: a folder of thousands is a mistake.
        return LoadResult({}, [Problem(str(files[0].parent), 1, (), f"{len(files)} dialplan "
                                       f"files: at most {MAX_FILES} (nothing was loaded)")])
    for file in files:
        display = _display(file, display_root)
        plan, found = load_dialplan(file, display, known)
        problems.extend(found)
        if plan is None:
            continue
        if plan.name in plans:
            problems.append(Problem(display, _name_line(file), ("dialplan",),
                                    f"dialplan '{plan.name}' is also defined in "
                                    f"{plans[plan.name].source}"))
            continue
        plans[plan.name] = plan
    return LoadResult(plans, problems)


def _name_line(file: Path) -> int:
    """The line of the `dialplan:` key (the file was just loaded, so this rarely fails)."""
    try:
        return load_file(file).line_of(("dialplan",))
    except (OSError, YamlSyntaxError):
        return 1


def _display(file: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(file.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(file)


class DialplanFiles:
    """The dialplan files: loaded all together, and watched for a change (their names,
    times and sizes). What was loaded lives in the live configuration
    (hotline.core.configuration), not here: this only reads the files."""

    def __init__(self, paths: list[Path], display_root: Path | None = None) -> None:
        self.paths = paths
        self.display_root = display_root
        self._signature: tuple[tuple[str, float, int], ...] = ()

    def signature(self) -> tuple[tuple[str, float, int], ...]:
        """What the files look like now (name, mtime, size), to notice a change."""
        out = []
        for file in dialplan_files(self.paths):
            try:
                stat = file.stat()
            except OSError:
                continue
            out.append((str(file), stat.st_mtime, stat.st_size))
        return tuple(out)

    def load(self, queues: Iterable[str] | None = None) -> LoadResult:
        """Load and compile every file (checked against `queues`); from now on changed()
        compares with the files as they were read here, valid or not."""
        signature = self.signature()
        result = load_all(self.paths, queues, self.display_root)
        self._signature = signature
        return result

    def changed(self) -> bool:
        return self.signature() != self._signature
