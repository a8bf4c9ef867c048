"""hotline's benchmarks: `make bench` (`python -m bench [NAME ...]`).

A benchmark is a module of this package that defines

- `TITLE`: one line, the section heading in BENCHMARKS.md;
- `MEASURES`: what it measures and how (Markdown), written into BENCHMARKS.md;
- `run() -> Outcome`: runs it (baseline included, in the same process) and returns its
  results table;
- optionally `MAKE_BENCH = False`: too long for `make bench`, which leaves it out; it runs
  by name (`python -m bench NAME`) and its section of BENCHMARKS.md is kept meanwhile.

Modules without `run` (such as `stream`, the recorded-stream generator) are helpers.
Results are reported as ratios against a baseline measured in the same run, because
absolute throughput moves with the machine and ratios much less.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Outcome:
    """A benchmark's results: a table (first column: what was measured) and notes."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    notes: list[str] = field(default_factory=list)
    targets_met: bool | None = None


@dataclass(frozen=True)
class Machine:
    python: str
    cpu: str
    cores: int
    usable_cores: int

    def describe(self) -> str:
        usable = "" if self.usable_cores == self.cores else f" ({self.usable_cores} usable)"
        return f"{self.python}; {self.cpu}; {self.cores} cores{usable}"


def machine() -> Machine:
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    cores = os.cpu_count() or 1
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    if models:
        cpu = models[0]
        cores = len(models)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = cores
    python = (f"{platform.python_implementation()} {platform.python_version()} "
              f"({platform.system()} {platform.machine()})")
    return Machine(python, cpu, cores, usable)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds taken by `fn()`, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def thousands(value: float) -> str:
    return f"{value:,.0f}"
