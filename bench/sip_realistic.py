"""The realistic run of bench/sip_load (the 12366 menu, 40 Local seats that answer):
see bench/sip_load/line.py. In `make bench`."""

from bench.sip_load.line import MEASURES, TITLE, run

__all__ = ["MEASURES", "TITLE", "run"]
