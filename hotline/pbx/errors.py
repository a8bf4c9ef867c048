"""Errors of pbx/: the embedded Asterisk (sandbox) and, from the gateway, AMI and AGI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hotline.common.errors import HotlineError

if TYPE_CHECKING:
    from hotline.pbx.ami.message import AmiMessage


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


# -- AMI and AGI (the gateway) ------------------------------------------------------------


class AmiError(HotlineError):
    """Talking to Asterisk over AMI failed (base of the AMI errors)."""

    code = "ami-error"


class AmiLoginRefused(AmiError):
    """Asterisk refused the AMI login (username or secret)."""

    code = "ami-login-refused"


class AmiTimeout(AmiError):
    """An AMI action got no answer within ami.action_timeout."""

    code = "ami-timeout"


class AmiDisconnected(AmiError):
    """The AMI connection is down (an action could not be sent or answered)."""

    code = "ami-disconnected"


class AmiActionFailed(AmiError):
    """Asterisk answered an AMI action with Response: Error."""

    code = "ami-action-failed"

    def __init__(self, message: str, response: AmiMessage | None = None) -> None:
        super().__init__(message)
        self.response = response


class AgiHangup(AmiError):
    """The channel left AGI (hung up, or was sent on) before the command finished."""

    code = "agi-channel-gone"


class AgiProtocolError(AmiError):
    """A FastAGI connection from Asterisk sent something that is not AGI (a bad line, an
    environment too long): that connection ends, the caller goes to the fallback."""

    code = "agi-protocol"


class AgiPortBusy(AmiError):
    """The FastAGI port is taken by another program (another hotline?): the service
    cannot take calls there and does not start."""

    code = "agi-port-busy"


class AmiAlready(AmiActionFailed):
    """A queue member change found the member already as wanted (already a member, not a
    member, no such interface): nothing to do for an idempotent intent."""

    code = "ami-already"
