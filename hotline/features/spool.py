"""Spools: the folders Asterisk records into and hotline reads from (voicemail, seat
conversation recordings), made so nobody else can look, and the WAV files' duration and
level."""

from __future__ import annotations

import array
import math
import wave
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Spool:
    """Where recordings go: `host_dir` as hotline sees it, `asterisk_dir` as Asterisk does."""

    host_dir: Path
    asterisk_dir: str


@dataclass(frozen=True)
class Audio:
    seconds: float
    dbfs: float  # RMS level; -inf for digital silence


def analyse(path: Path) -> Audio:
    """Duration and RMS level of a 16-bit WAV file."""
    with wave.open(str(path)) as wav:
        frames = wav.getnframes()
        rate = wav.getframerate()
        width = wav.getsampwidth()
        data = wav.readframes(frames)
    seconds = frames / rate if rate else 0.0
    if width != 2 or not data:
        return Audio(seconds, float("-inf"))
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if not samples:
        return Audio(seconds, float("-inf"))
    mean_square = sum(s * s for s in samples) / len(samples)
    if mean_square == 0:
        return Audio(seconds, float("-inf"))
    return Audio(seconds, 20 * math.log10(math.sqrt(mean_square) / 32768))


def spool_folder(folder: Path) -> None:
    """Make `folder` and its missing parents, each like the folder it is made in: Asterisk
    (another account) writes recordings into them, and nobody else may look. A new
    folder gets its parent's owner (when hotline runs as root, as with the sandbox, whose
    spool is Asterisk's) and its parent's mode without the bits for others."""
    import os
    import stat

    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        parent = path.parent.stat()
        path.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, parent.st_uid, parent.st_gid)
        path.chmod(stat.S_IMODE(parent.st_mode) & 0o7770)
