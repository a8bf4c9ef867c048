"""Errors of pbx/: the embedded Asterisk (sandbox) and, from the gateway, AMI and AGI."""

from __future__ import annotations

from hotline.common.errors import HotlineError


class SandboxError(HotlineError):
    """The embedded Asterisk (the sandbox) could not do what was asked."""

    code = "sandbox-failed"


class SandboxMissingDebootstrap(SandboxError):
    """Building the sandbox needs debootstrap, which is not installed."""

    code = "sandbox-missing-debootstrap"


class SandboxNeedsRoot(SandboxError):
    """Building or starting the sandbox needs root (chroot)."""

    code = "sandbox-needs-root"


class SandboxBuildFailed(SandboxError):
    """A step of building the sandbox's Debian root failed."""

    code = "sandbox-build-failed"


class SandboxBadVersion(SandboxError):
    """The Asterisk in the sandbox is not a version hotline supports."""

    code = "sandbox-bad-version"


class SandboxBroken(SandboxError):
    """The sandbox's root has no Asterisk modules folder: rebuild it."""

    code = "sandbox-broken"


class SandboxNoTemplates(SandboxError):
    """The Asterisk configuration templates (config/asterisk/) are not found."""

    code = "sandbox-no-templates"


class SandboxBadTemplate(SandboxError):
    """A configuration template names an unknown @field@ or a bad file name."""

    code = "sandbox-bad-template"


class SandboxPortBusy(SandboxError):
    """The AMI port of the sandbox instance is taken by another program."""

    code = "sandbox-port-busy"


class SandboxStartFailed(SandboxError):
    """The sandbox's Asterisk exited or did not boot in time."""

    code = "sandbox-start-failed"


class SandboxDown(SandboxError):
    """The sandbox instance is not running."""

    code = "sandbox-down"


class SandboxCliFailed(SandboxError):
    """An `asterisk -rx` command in the sandbox failed."""

    code = "sandbox-cli-failed"
