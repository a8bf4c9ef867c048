"""Run the benchmarks and rewrite BENCHMARKS.md: `python -m bench [NAME ...]`.

With no NAME every benchmark module of this package runs, but those that set
`MAKE_BENCH = False` (too long for `make bench`: run them by name); with names only those
run and only their sections of BENCHMARKS.md are replaced (the others are kept as they
were).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import re
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

import bench
from bench import Machine, Outcome, machine

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "BENCHMARKS.md"
START = "<!-- bench:{name} start -->"
END = "<!-- bench:{name} end -->"
SECTION = re.compile(r"<!-- bench:(?P<name>[\w.]+) start -->\n.*?<!-- bench:(?P=name) end -->",
                     re.S)

HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`, see bench/__init__.py); do not edit by hand.
`python -m bench NAME` re-runs one benchmark and replaces only its section.
Results are ratios against a baseline measured in the same run on the same machine:
absolute numbers move with the machine, ratios much less.
"""


def discover() -> dict[str, ModuleType]:
    """Every benchmark module of the package (a module with `run` and `TITLE`), by name."""
    found = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)) and hasattr(module, "TITLE"):
            found[info.name] = module
    return found


def command(names: list[str]) -> str:
    """The command line that produced the results, as a reader would type it."""
    if not names and os.environ.get("MAKELEVEL"):
        return "make bench"
    return " ".join(["python -m bench", *names])


def table(outcome: Outcome) -> str:
    lines = ["| " + " | ".join(outcome.columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(outcome.columns)))
             + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in outcome.rows]
    return "\n".join(lines)


def section(name: str, module: ModuleType, outcome: Outcome, cmd: str, when: str,
            host: Machine, seconds: float) -> str:
    parts = [
        START.format(name=name),
        f"## {name}: {module.TITLE}",
        "",
        module.MEASURES.strip(),
        "",
        f"- Command: `{cmd}` (from the repository root, with the project's virtualenv)",
        f"- Date: {when}",
        f"- Machine: {host.describe()}",
        f"- Time taken: {seconds:.1f} s",
        "",
        table(outcome),
    ]
    if outcome.notes:
        parts.append("")
        parts += [f"- {note}" for note in outcome.notes]
    parts.append(END.format(name=name))
    return "\n".join(parts)


def write_report(sections: dict[str, str], order: list[str]) -> None:
    old = {}
    if REPORT.exists():
        for match in SECTION.finditer(REPORT.read_text(encoding="utf-8")):
            old[match.group("name")] = match.group(0)
    merged = {**old, **sections}
    body = [merged[name] for name in order if name in merged]
    text = HEADER + "\n" + "\n\n".join(body) + "\n"
    tmp = REPORT.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(REPORT)


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    default = [name for name, module in available.items()
               if getattr(module, "MAKE_BENCH", True)]
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: {', '.join(default)}; by name "
                             f"only: {', '.join(sorted(set(available) - set(default)))})")
    parser.add_argument("--no-write", action="store_true",
                        help="print the results without rewriting BENCHMARKS.md")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)} (have: {', '.join(available)})")
    selected = args.names or default

    host = machine()
    cmd = command(args.names)
    print(f"machine: {host.describe()}", flush=True)
    sections: dict[str, str] = {}
    failed = []
    total = time.perf_counter()
    for name in selected:
        module = available[name]
        print(f"\n== {name}: {module.TITLE}", flush=True)
        when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        start = time.perf_counter()
        try:
            outcome = module.run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        seconds = time.perf_counter() - start
        print(table(outcome))
        for note in outcome.notes:
            print(f"- {note}")
        print(f"({seconds:.1f} s)", flush=True)
        sections[name] = section(name, module, outcome, cmd, when, host, seconds)

    if sections and not args.no_write:
        write_report(sections, list(available))
        print(f"\nwrote {REPORT.relative_to(ROOT)}")
    print(f"total {time.perf_counter() - total:.1f} s")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
