"""The live dialplans, loaded atomically and reloaded without dropping calls.

All files are loaded and compiled before any is swapped in: one invalid file rejects the
whole reload, its problems are reported, and the last good set stays live. A call keeps
the compiled dialplan it started with, so calls in progress finish on their version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hotline.common.yamlsrc import YamlSyntaxError, load_file
from hotline.core.ivr.dialplan import Dialplan, Problem, load_dialplan


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


class DialplanRegistry:
    def __init__(self, paths: list[Path], queues: Iterable[str] | None = None,
                 display_root: Path | None = None) -> None:
        self.paths = paths
        self.queues = set(queues) if queues is not None else None
        self.display_root = display_root
        self.plans: dict[str, Dialplan] = {}
        self.generation = 0
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

    def reload(self) -> LoadResult:
        """Load everything; swap it in only if there is no error."""
        signature = self.signature()
        result = load_all(self.paths, self.queues, self.display_root)
        self._signature = signature
        if not result.errors:
            self.plans = result.plans
            self.generation += 1
        return result

    def changed(self) -> bool:
        return self.signature() != self._signature

    def for_extension(self, extension: str | None) -> Dialplan | None:
        """The dialplan named like the dialed number, else the only one, else '12366'."""
        if extension and extension in self.plans:
            return self.plans[extension]
        if len(self.plans) == 1:
            return next(iter(self.plans.values()))
        return self.plans.get("12366")
