"""Errors of the IVR feature: prompt audio."""

from __future__ import annotations

from hotline.common.errors import HotlineError


class PromptError(HotlineError):
    """Making a prompt's audio failed (espeak-ng or sox reported an error)."""

    code = "prompt-failed"


class PromptFileMissing(PromptError):
    """A prompt's recording (file:) is not found."""

    code = "prompt-file-missing"


class PromptEmpty(PromptError):
    """A prompt has neither text nor a recording."""

    code = "prompt-empty"


class PromptToolMissing(PromptError):
    """espeak-ng or sox, needed to make prompts, is not installed."""

    code = "prompt-tool-missing"


class KbPromptTooLong(PromptError):
    """A knowledge-base entry's spoken answer, as synthesised, lasts longer than the line
    reads an answer (hotline.core.kb.MAX_SPOKEN_SECONDS): it is not published."""

    code = "kb-prompt-too-long"
