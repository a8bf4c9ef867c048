"""Errors shared by the features' commands: the ledger file, Asterisk, output files, the service."""

from __future__ import annotations

from hotline.common.errors import HotlineError


class LedgerMissing(HotlineError):
    """There is no ledger file yet (the service creates it)."""

    code = "ledger-missing"


class AmiUnreachable(HotlineError):
    """A command could not reach Asterisk's AMI within the connect timeout."""

    code = "ami-unreachable"


class OutputIsFolder(HotlineError):
    """--output names a folder, not a file."""

    code = "output-is-folder"


class OutputFolderMissing(HotlineError):
    """The folder of --output does not exist or is not a folder."""

    code = "output-folder-missing"


class OutputBadExtension(HotlineError):
    """The extension of --output names no format the command writes, or contradicts --format."""

    code = "output-bad-extension"


class OutputUnwritable(HotlineError):
    """The file system refused to write --output."""

    code = "output-unwritable"


class ServiceRunning(HotlineError):
    """`hotline run` found another service holding its pid file."""

    code = "service-running"


class ServiceNotRunning(HotlineError):
    """`hotline reload` found no running service by its pid file."""

    code = "service-not-running"
