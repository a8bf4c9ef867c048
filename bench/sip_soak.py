"""The 10-minute soak of bench/sip_load at 80 calls/s: see bench/sip_load/soak.py.
Not in `make bench` (about 11 minutes of both cores): `python -m bench sip_soak` or
`python -m bench.sip_load --soak`."""

from bench.sip_load.soak import MEASURES, TITLE, run

__all__ = ["MEASURES", "TITLE", "run"]
MAKE_BENCH = False  # `python -m bench` (make bench) leaves it out; run it by name
