"""Errors of the voicemail feature: recordings and the voicemail commands."""

from __future__ import annotations

from hotline.common.errors import HotlineError


class VoicemailError(HotlineError):
    """A voicemail could not be recorded or stored."""

    code = "voicemail-failed"


class VoicemailSpoolUnwritable(VoicemailError):
    """The voicemail spool folder is not writable."""

    code = "voicemail-spool-unwritable"


class VoicemailNoAudio(VoicemailError):
    """Asterisk wrote no recording for the voicemail."""

    code = "voicemail-no-audio"


class VoicemailFileMissing(VoicemailError):
    """The voicemail's recording file is missing."""

    code = "voicemail-file-missing"


class VoicemailTargetExists(VoicemailError):
    """`voicemail play --to`: the file exists already."""

    code = "voicemail-target-exists"


class VoicemailConvertFailed(VoicemailError):
    """sox could not convert the recording."""

    code = "voicemail-convert-failed"


class VoicemailNoteMissing(VoicemailError):
    """`voicemail done` needs a --note saying what was done."""

    code = "voicemail-note-missing"
