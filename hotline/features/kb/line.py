"""What the line plays from the knowledge base: the prompts of published entries and the
live snapshot of the offered entries that each new call takes.

- `build_spoken(version, prompts_dir)`: the entry version's spoken answer and its
  question as prompts (espeak-ng, the TTS of the dialplans' prompts), the answer's
  duration measured; longer than MAX_SPOKEN_SECONDS is refused (KbPromptTooLong). The
  desk awaits it before a publication (its `on_publish`), so an entry too long to read
  is never published.
- `KbLine`: polls the ledger's cheap stamp of the knowledge base every second; when it
  moved, the whole snapshot (hotline.core.ivr.kbline.KbSnapshot) is rebuilt and swapped
  at once, like a dialplan reload: a rebuild that fails keeps the old snapshot (logged).
  A published, re-published or withdrawn entry so reaches the next call, no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from datetime import datetime
from pathlib import Path

import structlog

from hotline.core.ivr.kbline import (
    EMPTY,
    KEY_WORDS,
    KbItem,
    KbSnapshot,
    key_file,
    key_text,
    question_file,
    spoken_file,
)
from hotline.core.kb import MAX_SPOKEN_SECONDS, Version
from hotline.features.ivr.errors import KbPromptTooLong
from hotline.features.ivr.prompts import Prompt, PromptError, PromptStore
from hotline.ledger.kb import KnowledgeBase

log = structlog.get_logger("hotline.kb")

KB_FOLDER = "_kb"  # the knowledge base's prompts: a folder beside the dialplans' own
POLL_SECONDS = 1.0


def seconds_of(path: Path) -> float:
    """The duration of a WAV file."""
    with wave.open(str(path)) as audio:
        frames: int = audio.getnframes()
        rate: int = audio.getframerate()
    return frames / rate


def build_spoken(version: Version, prompts_dir: Path) -> Path:
    """Make the prompts of `version` in `prompts_dir` (its spoken answer, its question for
    the generated menus) and return the spoken answer's file. Idempotent. Raises
    KbPromptTooLong (nothing left behind) when the answer lasts more than
    MAX_SPOKEN_SECONDS, PromptError when the TTS fails."""
    spoken = spoken_file(version.entry_id, version.version)
    question = question_file(version.entry_id, version.version)
    store = PromptStore(prompts_dir, "")
    store.build([Prompt(spoken, version.draft.spoken), Prompt(question, version.draft.question)])
    path = prompts_dir / f"{spoken}.wav"
    seconds = seconds_of(path)
    if seconds > MAX_SPOKEN_SECONDS:
        for name in (spoken, question):
            for suffix in (".wav", ".source"):
                with contextlib.suppress(FileNotFoundError):
                    (prompts_dir / f"{name}{suffix}").unlink()
        raise KbPromptTooLong(
            f"{version.entry_id} 第{version.version}版的语音答复朗读需 {seconds:.1f} 秒，"
            f"超过 {MAX_SPOKEN_SECONDS:g} 秒：请缩短语音答复（spoken）后再发布",
            entry_id=version.entry_id, version=version.version, seconds=round(seconds, 1))
    return path


def build_keys(prompts_dir: Path) -> None:
    """The "press N" (请按N) prompts read after each question of a generated menu."""
    PromptStore(prompts_dir, "").build([Prompt(key_file(k), key_text(k)) for k in KEY_WORDS])


def item_of(version: Version) -> KbItem:
    d = version.draft
    return KbItem(version.entry_id, version.version, d.topic, d.question, d.spoken, d.scope,
                  d.effective_from, d.effective_until)


async def published(ledger_path: Path) -> KbSnapshot:
    """The entries the line would offer, read from the ledger at `ledger_path` (for
    `hotline check` and `hotline simulate`; no prompt is built)."""
    from hotline.ledger.store import Ledger

    ledger = await Ledger.open(ledger_path)
    try:
        kb = KnowledgeBase(ledger)
        items = [item_of(v) for v in (e.live_version for e in await kb.live())
                 if v is not None and v.status == "published"]
        return KbSnapshot.of(items, await kb.stamp())
    finally:
        await ledger.close()


class KbLine:
    """The live snapshot of the offered entries (call it for the current one), the
    prompt folder they play from, and the call records of what the line answered."""

    def __init__(self, store: KnowledgeBase, prompts: PromptStore,
                 interval: float = POLL_SECONDS) -> None:
        self.store = store
        self.prompts = prompts  # the knowledge base's own folder (KB_FOLDER)
        self.interval = interval
        self.snapshot: KbSnapshot = EMPTY
        self._failed: str | None = None  # the stamp whose rebuild failed: not retried

    def __call__(self) -> KbSnapshot:
        return self.snapshot

    async def refresh(self) -> bool:
        """Rebuild and swap the snapshot if the knowledge base changed; True if swapped.
        Raises what made the rebuild fail (the old snapshot stays)."""
        stamp = await self.store.stamp()
        if stamp == self.snapshot.stamp or stamp == self._failed:
            return False
        try:
            snapshot = await self._build(stamp)
        except Exception:
            self._failed = stamp
            raise
        self.snapshot = snapshot
        self._failed = None
        log.info("kb.line_reloaded", entries=len(snapshot.by_id), stamp=stamp)
        return True

    async def _build(self, stamp: str) -> KbSnapshot:
        folder = self.prompts.host_dir
        if not (folder / f"{key_file(9)}.wav").exists():
            await asyncio.to_thread(build_keys, folder)
        items = []
        for entry in await self.store.live():
            version = entry.live_version
            if version is None or version.status != "published":
                continue
            item = item_of(version)
            ready = all((folder / f"{name}.wav").exists() for name in (
                spoken_file(item.entry_id, item.version),
                question_file(item.entry_id, item.version)))
            if not ready:
                try:
                    await asyncio.to_thread(build_spoken, version, folder)
                except KbPromptTooLong as exc:
                    # Published without the desk's check: not offered, said loudly.
                    log.error("kb.prompt_too_long", entry_id=item.entry_id,
                              version=item.version, error=str(exc))
                    continue
            items.append(item)
        return KbSnapshot.of(items, stamp)

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.refresh()
            except (PromptError, OSError, ValueError) as exc:
                log.error("kb.line_reload_failed", error=str(exc),
                          code=getattr(exc, "code", None))
            except Exception:
                log.exception("kb.line_reload_failed")
            await asyncio.sleep(self.interval)

    async def on_publish(self, version: Version) -> None:
        """The desk's publication hook (KbDesk's `on_publish`): the prompts of `version`
        built, off the event loop, before the ledger publishes it; KbPromptTooLong (or
        PromptError) refuses the publication."""
        await asyncio.to_thread(build_spoken, version, self.prompts.host_dir)

    # -- the call records ------------------------------------------------------------------

    async def answered(self, linkedid: str, item_id: str, version: int, at: datetime) -> int:
        return await self.store.answered(linkedid, item_id, version, at)

    async def feedback(self, answer_id: int, feedback: str, at: datetime) -> None:
        await self.store.feedback(answer_id, feedback, at)
