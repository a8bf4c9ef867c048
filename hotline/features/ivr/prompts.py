"""Prompts: named audio that Asterisk plays.

A prompt with a recorded `file` uses the recording (converted by sox to 8 kHz mono WAV);
a prompt with only `text` is synthesised in Mandarin (or the dialplan's language) by
espeak-ng, so a new menu is audible before a studio records it. A recording always wins.
Each dialplan's prompts live in a folder of their own, so two dialplans may share names.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hotline.core.ivr.dialplan import Dialplan
from hotline.features.ivr.errors import PromptEmpty, PromptFileMissing, PromptToolMissing
from hotline.features.ivr.errors import PromptError as PromptError  # importable from here

# espeak-ng voices by dialplan language.
VOICES = {"zh-CN": "cmn", "zh": "cmn", "cmn": "cmn", "en": "en-us", "en-US": "en-us"}


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str | None
    file: Path | None = None  # a recording; wins over the text


@dataclass(frozen=True)
class PromptStore:
    """Where hotline writes prompts (`host_dir`) and where Asterisk reads them
    (`asterisk_dir`): the same folder, seen from each side."""

    host_dir: Path
    asterisk_dir: str

    def for_dialplan(self, name: str) -> PromptStore:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return PromptStore(self.host_dir / safe, f"{self.asterisk_dir.rstrip('/')}/{safe}")

    def playable(self, name: str) -> str:
        """The name Asterisk plays it by: the path without extension."""
        return f"{self.asterisk_dir.rstrip('/')}/{name}"

    def build(self, prompts: Iterable[Prompt], language: str = "zh-CN") -> list[str]:
        """Make every prompt playable; returns the names (re)built. Idempotent: a prompt
        whose source (recording or text) has not changed is not built again."""
        public_folder(self.host_dir)
        voice = VOICES.get(language, "cmn")
        built = []
        for prompt in prompts:
            target = self.host_dir / f"{prompt.name}.wav"
            stamp = self.host_dir / f"{prompt.name}.source"
            if prompt.file is not None:
                if not prompt.file.is_file():
                    raise PromptFileMissing(f"prompt {prompt.name}: recording {prompt.file} not "
                                            "found")
                source = "file:" + hashlib.sha256(prompt.file.read_bytes()).hexdigest()
            elif prompt.text:
                source = f"text:{voice}:" + hashlib.sha256(prompt.text.encode()).hexdigest()
            else:
                raise PromptEmpty(f"prompt {prompt.name} has neither text nor a recording")
            if target.exists() and stamp.exists() and stamp.read_text() == source:
                continue
            if prompt.file is not None:
                convert(prompt.file, target)
            else:
                assert prompt.text is not None
                synthesise(prompt.text, target, voice)
            stamp.write_text(source)
            built.append(prompt.name)
        return built


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise PromptToolMissing(f"{tool} is not installed (Debian package {tool}): prompts cannot "
                                "be made")


def synthesise(text: str, target: Path, voice: str = "cmn") -> None:
    """Speech for `text` as 8 kHz mono 16-bit WAV at `target` (written atomically)."""
    _need("espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", "175", "-w", str(raw), text])
        convert(raw, target)


def convert(source: Path, target: Path) -> None:
    """Any audio sox reads -> 8 kHz mono 16-bit WAV at `target` (written atomically)."""
    _need("sox")
    partial = target.with_suffix(".partial.wav")
    _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
          str(partial)])
    # Menu audio holds no caller data, and Asterisk (another account) plays it: readable
    # by all, whatever the umask of this process (077 in the service).
    partial.chmod(0o644)
    partial.replace(target)


def public_folder(folder: Path) -> None:
    """Make `folder` (and its missing parents) with mode 0755, for Asterisk to enter."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        path.chmod(0o755)


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise PromptError(f"{cmd[0]} failed: {res.stderr.strip()[:300]}")


# -- queue announcements ------------------------------------------------------------------
# app_queue tells a waiting caller their position and expected wait with its own sound
# files and says the numbers in the channel's language. These are the Mandarin ones:
# hotline builds the phrases into its prompt folder (queues.conf points at them) and the
# numbers into Asterisk's sounds folder for language `zh`, as say.c's Chinese numbers
# read them (digits/N, digits/N0, hundred, thousand, wan).

QUEUE_FOLDER = "_queues"
QUEUE_LANGUAGE = "zh"
QUEUE_PHRASES = {
    "youarenext": "您是下一位，请稍候。",
    "thereare": "您现在排在第",
    "callswaiting": "位。",
    "holdtime": "预计还需等待",
    "minute": "分钟。",
    "minutes": "分钟。",
    "seconds": "秒。",
    "thankyou": "感谢您的耐心等待。",
}
_DIGITS = "零一二三四五六七八九"
NUMBER_WORDS = {
    **{str(n): _DIGITS[n] for n in range(10)},
    **{str(10 * n): ("" if n == 1 else _DIGITS[n]) + "十" for n in range(1, 10)},
    "hundred": "百", "thousand": "千", "wan": "万",
}


def queue_phrases() -> list[Prompt]:
    return [Prompt(name, text) for name, text in QUEUE_PHRASES.items()]


def number_words() -> list[Prompt]:
    return [Prompt(name, text) for name, text in NUMBER_WORDS.items()]


def prompts_of(plan: Dialplan) -> list[Prompt]:
    """The prompts of a dialplan, their recordings' paths relative to its file."""
    base = Path(plan.source).parent
    return [Prompt(p.name, p.text, (p.file if p.file is None or p.file.is_absolute()
                                    else base / p.file))
            for p in plan.prompts.values()]
