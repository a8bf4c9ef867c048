"""Choose the knowledge-base search's weights on the tuning questions only:
`python -m bench.kb_tune`.

Builds the kb_search benchmark's ledger (the seed and the filler up to 10,000 entries,
hotline's words) once, then scores bench/kb_questions.yaml's questions (dev and
held_out: both are tuning questions since 2026-12-05, see that file) for each value of
`coverage` (KnowledgeBase.search's weight of the share of the query's words an entry's
question and phrasings hold) and prints top-1 and top-3. The fresh questions
(bench/kb_questions_fresh.yaml) are never asked here: they measure the chosen values in
`python -m bench kb_search`, and looking at them while choosing would make that measure
worthless. Not a benchmark (no `run`): it times nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.kb_search import ENTRIES, TUNING, build, filler, load_questions, load_seed
from hotline.features.kb import words
from hotline.ledger.kb import KnowledgeBase

VALUES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


async def sweep(values: Sequence[float] = VALUES) -> list[tuple[float, dict[str, int]]]:
    """(coverage, {split: top-1, split top-3: ...}) for each value, tuning splits only."""
    seed = load_seed()
    asked = [q for q in load_questions(seed, fresh=None) if q.split in TUNING]
    fill = filler(max(0, ENTRIES - len(seed)))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        ledger, ids = await build(Path(tmp) / "tune.sqlite", seed, fill, words.indexed)
        try:
            store = KnowledgeBase(ledger)
            for value in values:
                score = {f"{s} {k}": 0 for s in TUNING for k in ("top-1", "top-3")}
                for q in asked:
                    hits = await store.search(words.match(q.text), city=q.city,
                                              coverage=value)
                    got = [h.entry_id for h in hits[:3]]
                    score[f"{q.split} top-1"] += bool(got) and got[0] == ids[q.entry]
                    score[f"{q.split} top-3"] += ids[q.entry] in got
                out.append((value, score))
        finally:
            await ledger.close()
    return out


def main() -> None:
    seed = load_seed()
    count = {s: sum(q.split == s for q in load_questions(seed, fresh=None)) for s in TUNING}
    for value, score in asyncio.run(sweep()):
        print(f"coverage {value:g}: " + ", ".join(
            f"{k} {n}/{count[k.split()[0]]}" for k, n in score.items()))


if __name__ == "__main__":
    main()
