"""Prompts: named audio that Asterisk plays. A prompt with text and no recording is
synthesised in Mandarin with espeak-ng and converted by sox to 8 kHz mono WAV, so a menu
is audible before a studio records it. A recording always wins over synthesis."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hotline.common.errors import HotlineError

# Formats Asterisk plays that a recording may come in; checked before synthesising.
RECORDED_SUFFIXES = (".wav", ".gsm", ".sln", ".ulaw", ".alaw", ".g722")


class PromptError(HotlineError):
    code = "prompt-failed"


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str


# The prompts of the first menu (the YAML dialplans bring their own).
BUILTIN = (
    # Digits are written as words: espeak-ng reads "12366" as a number (一万二千...).
    Prompt("welcome", "您好，欢迎致电一二三六六纳税服务热线。人工服务请按一，结束通话请按零。"),
    Prompt("goodbye", "感谢您的来电，再见。"),
)


@dataclass(frozen=True)
class PromptStore:
    """Where hotline writes prompts (`host_dir`) and where Asterisk reads them
    (`asterisk_dir`): the same folder, seen from each side."""

    host_dir: Path
    asterisk_dir: str

    def playable(self, name: str) -> str:
        """The name to give STREAM FILE / GET DATA: the path without extension."""
        return f"{self.asterisk_dir.rstrip('/')}/{name}"

    def recorded(self, name: str) -> Path | None:
        for suffix in RECORDED_SUFFIXES:
            path = self.host_dir / "recorded" / f"{name}{suffix}"
            if path.exists():
                return path
        return None

    def build(self, prompts: tuple[Prompt, ...] | list[Prompt]) -> list[str]:
        """Make every prompt playable; returns the names (re)built. Idempotent: a prompt
        whose text has not changed is not synthesised again."""
        self.host_dir.mkdir(parents=True, exist_ok=True)
        built = []
        for prompt in prompts:
            recorded = self.recorded(prompt.name)
            target = self.host_dir / f"{prompt.name}{recorded.suffix if recorded else '.wav'}"
            if recorded is not None:
                for stale in self.host_dir.glob(f"{prompt.name}.*"):
                    if stale != target and stale.suffix != ".txt":
                        stale.unlink()
                shutil.copyfile(recorded, target)
                continue
            stamp = self.host_dir / f"{prompt.name}.txt"
            digest = hashlib.sha256(prompt.text.encode()).hexdigest()
            if target.exists() and stamp.exists() and stamp.read_text() == digest:
                continue
            synthesise(prompt.text, target)
            stamp.write_text(digest)
            built.append(prompt.name)
        return built


def synthesise(text: str, target: Path) -> None:
    """Mandarin speech for `text` as 8 kHz mono 16-bit WAV at `target` (atomically)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed (Debian package {tool}); prompts "
                              "with text cannot be synthesised", code="prompt-tool-missing")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        out = Path(tmp) / "out.wav"
        _run(["espeak-ng", "-v", "cmn", "-s", "175", "-w", str(raw), text])
        _run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
              str(out)])
        shutil.move(out, target)


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise PromptError(f"{cmd[0]} failed: {res.stderr.strip()[:300]}")
