"""The embedded Asterisk: a Debian sid root holding Debian's `asterisk`, run on 127.0.0.1.

Debian 12 has no `asterisk` package; sid has. Installing sid packages into the host would
pull in sid's libc, so the root is built once by debootstrap into a cache folder outside
the repository and Asterisk runs chrooted in it, sharing the host's loopback network.

- `build()` is idempotent and safe to run twice at once (a file lock); it builds into
  `root.partial` and renames it to `root` only when complete, so an interrupted build is
  found as a leftover `root.partial` and redone, never half-used.
- Each instance (a name and an AMI port) gets its own tree inside the root
  (`/srv/hotline/<name>`: configuration, spool, run, log, astdb), so two instances can
  run at once. Its configuration is rendered from the templates in `config/asterisk/`.
- Asterisk does not run as root: `setpriv --no-new-privs chroot --userspec` starts it as
  the account `hotline-asterisk` (a system account of the host, mirrored into the root so
  both name the same uid), with no capabilities, unable to gain any (setuid programs in
  the root do nothing), and umask 077. The instance's data folders (spool, log, db, run,
  ...) are that account's, mode 0700; its configuration too (0600: manager.conf holds
  the AMI secret). The instance folder and hotline's own files in it stay root's, and
  others may not enter it. The modules that exist only to run shell commands
  (`SHELL_MODULES`) are removed from the root, so nothing can load them.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hotline.pbx.errors import (
    SandboxBadTemplate,
    SandboxBadVersion,
    SandboxBroken,
    SandboxBuildFailed,
    SandboxCliFailed,
    SandboxDown,
    SandboxMissingDebootstrap,
    SandboxNeedsRoot,
    SandboxNoTemplates,
    SandboxPortBusy,
    SandboxStartFailed,
)
from hotline.pbx.errors import (
    SandboxError as SandboxError,  # importable from here, as before
)

MIN_ASTERISK_MAJOR = 20
PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm")
COMPLETE_MARK = ".hotline-sandbox.json"
TEMPLATE_FIELD = re.compile(r"@([A-Z_]+)@")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_SIP_PEER = re.compile(r"^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$")
# A PJSIP endpoint name the sandbox writes (a seat's phone): also a file name.
SIP_ENDPOINT = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
# The account Asterisk runs as, on the host and (the same uid and gid) inside the root.
ASTERISK_ACCOUNT = "hotline-asterisk"
# Modules whose only purpose is running shell commands (System(), SHELL()): removed from
# the root. AMI needs the `system` class to reach them, which hotline's account lacks;
# without the files not even root's console can load them.
SHELL_MODULES = ("app_system.so", "func_shell.so")
# The instance's folders that Asterisk writes (its account's, 0700).
ASTERISK_DATA = ("spool", "run", "log", "db", "keys", "cache")
# Files Asterisk and hotline create are for their owner only.
UMASK = 0o077
# Where the carrier's trunk sends from unless told (an Asterisk of one's own on this
# machine, on SIP's usual port).
DEFAULT_SIP_TRUNK = "127.0.0.1:5060"
# Each instance's RTP ports: a block of RTP_BLOCK in RTP_FIRST.. (10 blocks), away from
# the ephemeral ports (32768-) and SIPp's media ports (6000-). 2,000 ports are 1,000 call
# legs (an RTP and an RTCP port each): 500 ports ran out at 300 SIP calls.
RTP_FIRST = 10000
RTP_BLOCK = 2000
RTP_BLOCKS = 10
# The browser phones' certificate (Asterisk's HTTPS server, the WSS transport): made by
# the sandbox for each instance, in its keys/ folder (Asterisk's, 0700; the key 0600).
# Made again when it has less than CERT_RENEW_DAYS left.
CERT_FILE = "webrtc.crt"
KEY_FILE = "webrtc.key"
CERT_DAYS = 825
CERT_RENEW_DAYS = 30

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/hotline, else /var/cache/hotline for root, else ~/.cache/hotline."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "hotline"
    if os.geteuid() == 0:
        return Path("/var/cache/hotline")
    return Path.home() / ".cache" / "hotline"


def host_debian_mirror() -> str:
    """The Debian mirror this machine's own apt sources use (deb.debian.org if none found)."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:URIs:|^deb)\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M):
            uri = match.group(1)
            if "security" not in uri and uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Sandbox:
    """The built root in `cache_dir`, and the instances that run in it."""

    cache_dir: Path
    templates: Path
    mirror: str = "auto"

    @property
    def root(self) -> Path:
        return self.cache_dir / "root"

    @property
    def partial(self) -> Path:
        return self.cache_dir / "root.partial"

    def is_built(self) -> bool:
        return (self.root / COMPLETE_MARK).is_file()

    def built_version(self) -> str | None:
        try:
            info = json.loads((self.root / COMPLETE_MARK).read_text())
        except (OSError, ValueError):
            return None
        version = info.get("asterisk_version")
        return version if isinstance(version, str) else None

    # -- build -------------------------------------------------------------------------

    def build(self, progress: Progress = _quiet, *, force: bool = False) -> str:
        """Build the root once (later calls reuse it); returns the Asterisk version line."""
        _require_root("build the embedded Asterisk")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache_dir / "build.lock", progress):
            if self.is_built() and not force:
                version = self.built_version() or "unknown"
                progress(f"sandbox: reusing {self.root} ({version})")
                return version
            if shutil.which("debootstrap") is None:
                raise SandboxMissingDebootstrap(
                    "debootstrap is not installed: run `apt-get install -y debootstrap` "
                    "(Debian package) and try again")
            if self.partial.exists():
                progress(f"sandbox: removing an interrupted build at {self.partial}")
                _remove_tree(self.partial)
            if force and self.root.exists():
                _remove_tree(self.root)
            mirror = host_debian_mirror() if self.mirror == "auto" else self.mirror
            started = time.monotonic()
            progress(f"sandbox: debootstrap sid from {mirror} into {self.partial} "
                     "(first build downloads about 100 MB)")
            _run_streamed(
                ["debootstrap", "--variant=minbase", "sid", str(self.partial), mirror],
                progress, "debootstrap",
            )
            self._prepare_root(self.partial)
            progress("sandbox: apt-get update inside the root")
            # sid's Release file on a snapshot mirror may have expired: accept it anyway.
            _run_streamed(
                ["chroot", str(self.partial), "apt-get", "-o",
                 "Acquire::Check-Valid-Until=false", "update"],
                progress, "apt-get update",
            )
            progress(f"sandbox: installing {' '.join(PACKAGES)}")
            _run_streamed(
                ["chroot", str(self.partial), "env", "DEBIAN_FRONTEND=noninteractive",
                 "apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
                progress, "apt-get install",
            )
            _remove_shell_modules(self.partial)
            version = _asterisk_version(self.partial)
            (self.partial / COMPLETE_MARK).write_text(json.dumps({
                "asterisk_version": version, "mirror": mirror,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }))
            self.partial.rename(self.root)
            progress(f"sandbox: built {version} in {time.monotonic() - started:.0f} s")
            return version

    def _prepare_root(self, root: Path) -> None:
        # Packages must not start services inside the root.
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _ensure_hostname(root)

    # -- the account Asterisk runs as -------------------------------------------------

    def asterisk_ids(self) -> tuple[int, int] | None:
        """The uid and gid of ASTERISK_ACCOUNT inside the root (None: not made yet)."""
        for line in _lines(self.root / "etc/passwd"):
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == ASTERISK_ACCOUNT:
                return int(fields[2]), int(fields[3])
        return None

    def ensure_account(self, progress: Progress = _quiet) -> tuple[int, int]:
        """Make ASTERISK_ACCOUNT a system account of the host (so the host never gives its
        uid to anyone else) and the same account inside the root; returns (uid, gid)."""
        _require_root("make the account the embedded Asterisk runs as")
        with _locked(self.cache_dir / "build.lock", progress):
            try:
                host = pwd.getpwnam(ASTERISK_ACCOUNT)
            except KeyError:
                host = self._add_host_account(progress)
            uid, gid = host.pw_uid, host.pw_gid
            if self.asterisk_ids() != (uid, gid):
                _mirror_account(self.root, uid, gid)
            _remove_shell_modules(self.root)  # also from roots built before this was done
            return uid, gid

    def _add_host_account(self, progress: Progress) -> pwd.struct_passwd:
        taken = ({p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()})
        for path in (self.root / "etc/passwd", self.root / "etc/group"):
            taken |= {int(f[2]) for f in (line.split(":") for line in _lines(path))
                      if len(f) > 2 and f[2].isdigit()}
        free = next((n for n in range(999, 99, -1) if n not in taken), None)
        if free is None:
            raise SandboxBroken("no free system uid/gid (100-999) for the account "
                                f"{ASTERISK_ACCOUNT} the embedded Asterisk runs as")
        progress(f"sandbox: adding the system account {ASTERISK_ACCOUNT} (uid {free}) that "
                 "Asterisk runs as")
        for cmd in (["groupadd", "--system", "--gid", str(free), ASTERISK_ACCOUNT],
                    ["useradd", "--system", "--uid", str(free), "--gid", str(free),
                     "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                     "/usr/sbin/nologin", "--comment", "hotline sandbox Asterisk",
                     ASTERISK_ACCOUNT]):
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SandboxBroken(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
        return pwd.getpwnam(ASTERISK_ACCOUNT)

    # -- instances ---------------------------------------------------------------------

    def instance(self, name: str = "default", ami_port: int = 5038,
                 agi_port: int | None = None, sip_port: int | None = None,
                 sip_trunk: str = DEFAULT_SIP_TRUNK, sip_bind: str = "127.0.0.1",
                 wss_port: int | None = None) -> Instance:
        return Instance(self, name, ami_port, agi_port, sip_port, sip_trunk, sip_bind,
                        wss_port)

    def instance_info(self) -> dict[str, dict[str, object]]:
        """What each instance's last start recorded (instance.json), by name."""
        found: dict[str, dict[str, object]] = {}
        for meta in sorted((self.root / "srv/hotline").glob("*/instance.json")):
            try:
                info = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(info, dict):
                found[meta.parent.name] = info
        return found

    def running_instances(self) -> list[Instance]:
        found = []
        for name, info in self.instance_info().items():
            agi, sip = info.get("agi_port"), info.get("sip_port")
            wss = info.get("wss_port")
            inst = Instance(self, name, int(str(info.get("ami_port", 5038))),
                            int(str(agi)) if agi is not None else None,
                            int(str(sip)) if sip is not None else None,
                            str(info.get("sip_trunk", DEFAULT_SIP_TRUNK)),
                            str(info.get("sip_bind", "127.0.0.1")),
                            int(str(wss)) if wss is not None else None)
            if inst.pid() is not None:
                found.append(inst)
        return found


@dataclass(frozen=True)
class Instance:
    """One Asterisk running in the sandbox root, with its private tree and AMI port."""

    sandbox: Sandbox
    name: str
    ami_port: int
    # Where the dialplan finds hotline's FastAGI server; None: the AMI port + 1.
    agi: int | None = None
    # Asterisk's SIP port (UDP); None: the AMI port + 2.
    sip: int | None = None
    # Where the carrier's trunk sends from: address[:port] (pjsip.conf's identify).
    sip_trunk: str = DEFAULT_SIP_TRUNK
    # The address SIP listens on.
    sip_bind: str = "127.0.0.1"
    # The browser phones' secure WebSocket port (TCP, on 127.0.0.1); None: the AMI port
    # + 3.
    wss: int | None = None

    @property
    def agi_port(self) -> int:
        from hotline.pbx.fastagi import default_agi_port

        return self.agi if self.agi is not None else default_agi_port(self.ami_port)

    @property
    def sip_port(self) -> int:
        if self.sip is not None:
            return self.sip
        return self.ami_port + 2 if self.ami_port < 65534 else self.ami_port - 2

    @property
    def wss_port(self) -> int:
        if self.wss is not None:
            return self.wss
        return self.ami_port + 3 if self.ami_port < 65532 else self.ami_port - 4

    @property
    def wss_url(self) -> str:
        """Where a browser phone connects (SIP over secure WebSocket)."""
        return f"wss://127.0.0.1:{self.wss_port}/ws"

    @property
    def certificate(self) -> Path:
        """The instance's TLS certificate (the WSS transport's), as the host sees it."""
        return self.dir / "keys" / CERT_FILE

    def rtp_ports(self) -> tuple[int, int]:
        """This instance's RTP port range: the one it runs with, else a block no other
        running instance has (the one its SIP port points at, if free)."""
        info = self.sandbox.instance_info()
        mine = _port_pair(info.get(self.name, {}).get("rtp_ports"))
        if mine is not None and self.pid() is not None:
            return mine
        running = {i.name for i in self.sandbox.running_instances() if i.name != self.name}
        taken = {pair[0] for name, other in info.items() if name in running
                 and (pair := _port_pair(other.get("rtp_ports"))) is not None}
        blocks = [(self.sip_port + n) % RTP_BLOCKS for n in range(RTP_BLOCKS)]
        free = [b for b in blocks if RTP_FIRST + b * RTP_BLOCK not in taken]
        # All taken: share one (Asterisk skips ports in use; only capacity is shared).
        start = RTP_FIRST + (free or blocks)[0] * RTP_BLOCK
        return start, start + RTP_BLOCK - 1

    @property
    def chroot_dir(self) -> str:
        """The instance's folder as Asterisk sees it, inside the root."""
        return f"/srv/hotline/{self.name}"

    @property
    def dir(self) -> Path:
        """The instance's folder as the host sees it."""
        return self.sandbox.root / "srv/hotline" / self.name

    @property
    def conf(self) -> str:
        return f"{self.chroot_dir}/etc/asterisk.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "asterisk.pid"

    @property
    def console_log(self) -> Path:
        return self.dir / "log/console.log"

    def host_path(self, chroot_path: str) -> Path:
        """A path inside the root (as Asterisk names it) seen from the host."""
        return self.sandbox.root / chroot_path.lstrip("/")

    def secret(self) -> str:
        """The AMI secret generated for this instance (created on first use, kept)."""
        path = self.dir / "ami.secret"
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def sip_secret(self, endpoint: str) -> str:
        """The SIP password generated for a seat's phone (its PJSIP endpoint name), created
        on first use and kept (sip-secrets/<endpoint>, 0600, root's)."""
        if not SIP_ENDPOINT.match(endpoint):
            raise SandboxBadTemplate(f"{endpoint!r} is not a PJSIP endpoint name")
        folder = self.dir / "sip-secrets"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        path = folder / endpoint
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(18))
        return path.read_text().strip()

    def render_config(self, username: str = "hotline",
                      generated: Mapping[str, str] | None = None) -> None:
        """Write the instance's Asterisk configuration from the templates, plus the files
        hotline `generated` (name -> text, e.g. queues.conf from routing.yaml); None: the
        ones given last time."""
        if not self.sandbox.templates.is_dir():
            raise SandboxNoTemplates(
                f"Asterisk config templates not found at {self.sandbox.templates}")
        modules = _modules_dir(self.sandbox.root)
        if not (_IPV4.match(self.sip_bind) and _SIP_PEER.match(self.sip_trunk)):
            raise SandboxBadTemplate(f"SIP address {self.sip_bind!r} or trunk "
                                     f"{self.sip_trunk!r} is not an IPv4 address[:port]")
        rtp = self.rtp_ports()
        values = {
            "INSTANCE": self.chroot_dir,
            "MODULES": modules,
            "AMI_PORT": str(self.ami_port),
            "AMI_USER": username,
            "AMI_SECRET": self.secret(),
            "AGI_PORT": str(self.agi_port),
            "SIP_PORT": str(self.sip_port),
            "SIP_BIND": self.sip_bind,
            "SIP_TRUNK": self.sip_trunk,
            "RTP_START": str(rtp[0]),
            "RTP_END": str(rtp[1]),
            "WSS_PORT": str(self.wss_port),
            "ICE_HOST_CANDIDATES": _ice_host_candidates(),
        }
        ids = self.sandbox.asterisk_ids() if os.geteuid() == 0 else None
        etc = self.dir / "etc"
        self.dir.mkdir(parents=True, exist_ok=True)
        # Asterisk's account may enter the instance folder (group x), nobody else.
        self.dir.parent.chmod(0o755)
        _set_mode(self.dir, 0o710 if ids else 0o700, (0, ids[1]) if ids else None)
        for sub in ASTERISK_DATA:
            (self.dir / sub).mkdir(exist_ok=True)
        _ensure_certificate(self.dir / "keys")
        for sub in ASTERISK_DATA:
            _make_private(self.dir / sub, ids)
        # Menu audio (no caller data) is Asterisk's to read: public inside the folder.
        for sub in ("sounds", "sounds/hotline"):
            (self.dir / sub).mkdir(exist_ok=True)
            (self.dir / sub).chmod(0o755)
        staged = self.dir / "etc.new"
        if staged.exists():
            shutil.rmtree(staged)
        staged.mkdir()
        _set_mode(staged, 0o700, ids)
        for template in sorted(self.sandbox.templates.glob("*.conf")):
            text = template.read_text(encoding="utf-8")

            def fill(match: re.Match[str], name: str = template.name) -> str:
                key = match.group(1)
                if key not in values:
                    raise SandboxBadTemplate(f"{name}: unknown template field @{key}@")
                return values[key]

            out = staged / template.name
            out.write_text(TEMPLATE_FIELD.sub(fill, text), encoding="utf-8")
            _set_mode(out, 0o600, ids)  # manager.conf holds the AMI secret
        # Generated files are kept beside the configuration, so a restart that does not
        # pass them again (an `up` after a `down`) keeps the last ones.
        kept = self.dir / "generated"
        if generated is not None:
            for name in generated:
                if "/" in name or not name.endswith(".conf"):
                    raise SandboxBadTemplate(f"generated config {name!r} is not a .conf file name")
            if kept.exists():
                shutil.rmtree(kept)
            kept.mkdir(mode=0o700)
            for name, text in generated.items():
                (kept / name).write_text(text, encoding="utf-8")
                (kept / name).chmod(0o600)
        if kept.is_dir():
            kept.chmod(0o700)  # also one an older version left open
        for old in sorted(kept.glob("*.conf")) if kept.is_dir() else []:
            old.chmod(0o600)
            shutil.copyfile(old, staged / old.name)
            _set_mode(staged / old.name, 0o600, ids)
        # Swap the whole folder so Asterisk never reads a half-written configuration.
        if etc.exists():
            shutil.rmtree(etc)
        staged.rename(etc)
        _write_private(self.dir / "instance.json", json.dumps(
            {"name": self.name, "ami_port": self.ami_port, "agi_port": self.agi_port,
             "ami_user": username, "sip_port": self.sip_port, "sip_bind": self.sip_bind,
             "sip_trunk": self.sip_trunk, "rtp_ports": list(rtp),
             "wss_port": self.wss_port}))

    def update_generated(self, generated: Mapping[str, str]) -> set[str]:
        """Replace generated configuration files of a rendered instance in place (each
        file written whole, then renamed), for Asterisk to reload them; returns the names
        of those whose text changed."""
        kept = self.dir / "generated"
        kept.mkdir(parents=True, exist_ok=True)
        for name in generated:
            if "/" in name or not name.endswith(".conf"):
                raise SandboxBadTemplate(f"generated config {name!r} is not a .conf file name")
        ids = self.sandbox.asterisk_ids() if os.geteuid() == 0 else None
        changed = set()
        for name, text in generated.items():
            try:
                if (self.dir / "etc" / name).read_text(encoding="utf-8") != text:
                    changed.add(name)
            except OSError:
                changed.add(name)
            for folder, owner in ((kept, None), (self.dir / "etc", ids)):
                partial = folder / f".{name}.new"
                partial.write_text(text, encoding="utf-8")
                _set_mode(partial, 0o600, owner)  # Asterisk's account reads etc/
                partial.replace(folder / name)
        return changed

    def reload_sip(self) -> None:
        """Asterisk re-reads pjsip.conf (seats' phones added or removed; registered phones
        of the other seats stay registered)."""
        self.cli("module reload res_pjsip.so", timeout=15)

    def pid(self) -> int | None:
        """The pid of this instance's Asterisk if it is running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_our_asterisk(pid, self.conf) else None

    def up(self, progress: Progress = _quiet, *, boot_timeout: float = 60.0,
           username: str = "hotline", generated: Mapping[str, str] | None = None) -> None:
        """Start Asterisk in the background; return once it is FullyBooted. `generated`:
        configuration files hotline wrote (see `render_config`)."""
        _require_root("start the embedded Asterisk")
        if not self.sandbox.is_built():
            self.sandbox.build(progress)
        if self.pid() is not None:
            progress(f"sandbox: instance {self.name!r} is already up (AMI 127.0.0.1:"
                     f"{self.ami_port})")
            return
        if _port_in_use(self.ami_port):
            raise SandboxPortBusy(
                f"AMI port 127.0.0.1:{self.ami_port} is already in use by another program; "
                "choose another with HOTLINE_AMI_PORT")
        if _port_in_use(self.wss_port):
            raise SandboxPortBusy(
                f"WebSocket port 127.0.0.1:{self.wss_port} (the browser phones') is already "
                "in use by another program; choose another with HOTLINE_SANDBOX_WSS_PORT")
        if _udp_port_in_use(self.sip_bind, self.sip_port):
            raise SandboxPortBusy(
                f"SIP port {self.sip_bind}:{self.sip_port} (UDP) is already in use by another "
                "program; choose another with HOTLINE_SANDBOX_SIP_PORT")
        _check_version(self.sandbox.built_version())
        if shutil.which("setpriv") is None:
            raise SandboxStartFailed("setpriv is not installed (Debian package util-linux): "
                                     "it starts Asterisk without root's privileges")
        uid, gid = self.sandbox.ensure_account(progress)
        _ensure_hostname(self.sandbox.root)
        self.render_config(username, generated)
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        progress(f"sandbox: starting Asterisk {self.name!r} (AMI 127.0.0.1:{self.ami_port}) "
                 f"as {ASTERISK_ACCOUNT}")
        fd = os.open(self.console_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o600)
            # no_new_privs survives chroot's switch to the account and Asterisk's exec:
            # nothing Asterisk runs (AGI programs, setuid files in the root) gains rights.
            proc = subprocess.Popen(
                ["setpriv", "--no-new-privs", "chroot", f"--userspec={uid}:{gid}",
                 f"--groups={gid}", str(self.sandbox.root), "/usr/sbin/asterisk", "-f", "-n",
                 "-C", self.conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, umask=UMASK,
            )
        _write_private(self.pid_file, str(proc.pid))
        deadline = time.monotonic() + boot_timeout
        while True:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise SandboxStartFailed(
                    f"Asterisk exited with status {proc.returncode} while starting:\n"
                    + self.log_tail())
            if time.monotonic() > deadline:
                self.down()
                raise SandboxStartFailed(f"Asterisk did not boot within {boot_timeout:.0f} s:\n"
                                   + self.log_tail())
            ok, _ = self._remote("core waitfullybooted", timeout=5)
            if ok and _port_in_use(self.ami_port):
                break
            time.sleep(0.1)
        progress(f"sandbox: Asterisk {self.name!r} is FullyBooted (pid {proc.pid})")

    def down(self, progress: Progress = _quiet, *, timeout: float = 10.0) -> bool:
        """Stop this instance; returns False if it was not running. Leaves no process."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        progress(f"sandbox: stopping Asterisk {self.name!r} (pid {pid})")
        self._remote("core stop now", timeout=5)
        if not _wait_gone(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            if not _wait_gone(pid, 5):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
        self.pid_file.unlink(missing_ok=True)
        return True

    def crash(self, *, timeout: float = 5.0) -> float:
        """Kill this instance's Asterisk with SIGKILL, as a crash would end it (no
        hang-ups, no CEL, sockets reset by the kernel); returns the wall-clock time of the
        kill. Returns once the process is gone and reaped, so `up()` starts it again on
        the same ports with the same configuration and tree (astdb, record, spool)."""
        pid = self.pid()
        if pid is None:
            raise SandboxDown(f"sandbox instance {self.name!r} is not running")
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, timeout):
            raise SandboxError(f"Asterisk {self.name!r} (pid {pid}) survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        return killed

    def cli(self, command: str, timeout: float = 30.0) -> str:
        """Run an Asterisk CLI command in this instance and return its output."""
        if self.pid() is None:
            raise SandboxDown(f"sandbox instance {self.name!r} is not running "
                               "(start it with `hotline sandbox up`)")
        ok, out = self._remote(command, timeout=timeout)
        if not ok:
            raise SandboxCliFailed(f"asterisk -rx {command!r} failed: {out.strip()}")
        return out

    def _remote(self, command: str, timeout: float) -> tuple[bool, str]:
        try:
            res = subprocess.run(
                ["chroot", str(self.sandbox.root), "/usr/sbin/asterisk", "-C", self.conf,
                 "-rx", command],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return False, "timed out"
        out = res.stdout + res.stderr
        # asterisk -rx exits 0 even when it cannot connect; the message says so.
        ok = res.returncode == 0 and "Unable to connect to remote asterisk" not in out
        return ok, res.stdout if ok else out

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.console_log, self.dir / "log/messages.log"):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts) or "(no log)"


# -- helpers --------------------------------------------------------------------------------


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise SandboxNeedsRoot(
            f"root is needed to {what} (debootstrap and chroot). Run as root, or point "
            "hotline at an existing Asterisk instead: set ami.host/port/username/secret in "
            "config/hotline.yaml (see README, 'Using an existing Asterisk')",
            )


@contextlib.contextmanager
def _locked(path: Path, progress: Progress) -> Iterator[None]:
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("sandbox: another build is running; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _port_pair(value: object) -> tuple[int, int] | None:
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and 0 < v < 65536 for v in value)):
        return int(value[0]), int(value[1])
    return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _mirror_account(root: Path, uid: int, gid: int) -> None:
    """ASTERISK_ACCOUNT with this uid and gid in the root's passwd and group files (the
    names Asterisk's files show inside the root); refused if another name has either."""
    entries = {
        root / "etc/passwd": (f"{ASTERISK_ACCOUNT}:x:{uid}:{gid}:hotline sandbox Asterisk:"
                              "/nonexistent:/usr/sbin/nologin", uid),
        root / "etc/group": (f"{ASTERISK_ACCOUNT}:x:{gid}:", gid),
    }
    for path, (entry, number) in entries.items():
        kept = [line for line in _lines(path) if line.split(":")[0] != ASTERISK_ACCOUNT]
        clash = [line for line in kept if line.split(":")[2:3] == [str(number)]]
        if clash:
            raise SandboxBroken(f"{path}: id {number} of the host's {ASTERISK_ACCOUNT} is "
                                f"taken in the sandbox root by {clash[0].split(':')[0]!r}; "
                                "rebuild it with `hotline sandbox build --force`")
        partial = path.with_name(f".{path.name}.hotline")
        partial.write_text("\n".join([*kept, entry]) + "\n", encoding="utf-8")
        partial.chmod(0o644)
        partial.replace(path)


def _remove_shell_modules(root: Path) -> None:
    for folder in root.glob("usr/lib/*/asterisk/modules"):
        for name in SHELL_MODULES:
            (folder / name).unlink(missing_ok=True)


def _set_mode(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)
    path.chmod(mode)


def _make_private(folder: Path, ids: tuple[int, int] | None) -> None:
    """Give `folder` and everything in it to Asterisk's account (when running as root),
    readable by the owner only: also what an older version or a root Asterisk left."""
    for dirpath, dirs, files in os.walk(folder):
        here = Path(dirpath)
        for path in [here, *(here / d for d in dirs), *(here / f for f in files)]:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                continue
            if ids is not None and (info.st_uid, info.st_gid) != ids:
                os.chown(path, *ids, follow_symlinks=False)
            if info.st_mode & 0o077:
                path.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write a file of hotline's own (root's, 0600), whatever the process's umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fd, 0o600)
        fh.write(text)


def _run_streamed(cmd: list[str], progress: Progress, what: str) -> None:
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-40:], line]
            if line.startswith(("I: Retrieving", "I: Extracting", "I: Base system", "Get:",
                                "Setting up asterisk", "Fetched", "E:", "W:")):
                progress(f"  {line}")
        code = proc.wait()
    if code != 0:
        raise SandboxBuildFailed(f"{what} failed with status {code}:\n" + "\n".join(tail))


def _asterisk_version(root: Path) -> str:
    res = subprocess.run(["chroot", str(root), "/usr/sbin/asterisk", "-V"],
                         capture_output=True, text=True, check=False)
    version = res.stdout.strip()
    _check_version(version)
    return version


def _check_version(version: str | None) -> None:
    match = re.match(r"Asterisk (\d+)\.", version or "")
    if match is None or int(match.group(1)) < MIN_ASTERISK_MAJOR:
        raise SandboxBadVersion(
            f"need Asterisk >= {MIN_ASTERISK_MAJOR}, found {version or 'nothing'} in the "
            "sandbox root; rebuild it with `hotline sandbox build --force`")


def _modules_dir(root: Path) -> str:
    found = sorted(root.glob("usr/lib/*/asterisk/modules"))
    if not found:
        raise SandboxBroken(f"no Asterisk modules folder in {root}")
    return "/" + str(found[0].relative_to(root))


def _remove_tree(path: Path) -> None:
    """Remove a root, unmounting first anything an interrupted debootstrap left mounted."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        mounts = []
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    shutil.rmtree(path)


def _is_our_asterisk(pid: int, conf: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(b"asterisk") for arg in cmdline) and conf.encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child of ours that exited is a zombie until reaped.
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        if not Path(f"/proc/{pid}").exists():
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _ensure_hostname(root: Path) -> None:
    """The host's name in the root's /etc/hosts (also after the host was renamed, or for a
    root built elsewhere). No network here: a name that does not resolve cost every SIP
    call ~22 s of DNS time-outs inside Asterisk (RTP looks up the host's own address)."""
    host = socket.gethostname()
    hosts = root / "etc/hosts"
    lines = _lines(hosts)
    if any(host in line.split()[1:] for line in lines if not line.lstrip().startswith("#")):
        return
    partial = hosts.with_name(".hosts.hotline")
    partial.write_text(f"127.0.0.1 localhost {host}\n::1 localhost\n", encoding="utf-8")
    partial.chmod(0o644)
    partial.replace(hosts)


def _host_ipv4_addresses() -> list[str]:
    """The IPv4 addresses of this machine's interfaces that are up, loopback excluded
    (what Asterisk's ICE enumerates), in interface order."""
    import fcntl as _fcntl
    import struct

    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            packed = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack("H", _fcntl.ioctl(sock, 0x8913, packed)[16:18])[0]
                address = socket.inet_ntoa(_fcntl.ioctl(sock, 0x8915, packed)[20:24])
            except OSError:  # no IPv4 address on it
                continue
            if flags & 0x1 and not address.startswith(("127.", "0.")):  # IFF_UP
                found.append(address)
    return found


def _ice_host_candidates() -> str:
    """rtp.conf's [ice_host_candidates]: the browser phones' one ICE host candidate is
    127.0.0.1. Asterisk never offers a loopback address itself (it skips 127.0.0.0/8 when
    it lists the interfaces), so the first address it does list is advertised as
    127.0.0.1 instead, and rtp.conf's ICE ACL drops the rest. No such address (a machine
    with loopback alone): no candidate, and browser phones get no media."""
    addresses = _host_ipv4_addresses()
    if not addresses:
        return "; (no network interface but loopback: browser phones have no ICE candidate)"
    return f"{addresses[0]} => 127.0.0.1"


def _ensure_certificate(keys: Path) -> None:
    """The instance's self-signed TLS certificate for 127.0.0.1 (the browser phones'
    WSS transport), made with the host's openssl when missing or about to expire. The
    key is never shown or logged: it stays in keys/ (made Asterisk's, 0600, after)."""
    cert, key = keys / CERT_FILE, keys / KEY_FILE
    if cert.exists() and key.exists():
        check = subprocess.run(["openssl", "x509", "-noout", "-checkend",
                                str(CERT_RENEW_DAYS * 86400), "-in", str(cert)],
                               capture_output=True, check=False)
        if check.returncode == 0:
            return
    if shutil.which("openssl") is None:
        raise SandboxStartFailed("openssl is not installed (Debian package openssl): it "
                                 "makes the certificate of the browser phones' WebSocket")
    partial_key, partial_cert = keys / f".{KEY_FILE}.new", keys / f".{CERT_FILE}.new"
    partial_key.unlink(missing_ok=True)
    # The key is created 0600 before openssl writes it (openssl keeps an existing mode).
    os.close(os.open(partial_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", str(CERT_DAYS), "-subj", "/O=hotline sandbox/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", str(partial_key), "-out", str(partial_cert)],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        partial_key.unlink(missing_ok=True)
        raise SandboxStartFailed(f"openssl could not make the WebSocket certificate: "
                                 f"{res.stderr.strip()[-500:]}")
    partial_key.chmod(0o600)
    partial_key.replace(key)
    partial_cert.replace(cert)


def _udp_port_in_use(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return True
        return False


def find_free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
