"""The benchmarks stay in step with the code they measure."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name: str) -> None:
    """Each bench/ module imports against today's hotline (a rename or a removed name in
    hotline breaks `make bench` here first, not only when someone runs it)."""
    importlib.import_module(f"bench.{name}")
