"""Service settings: `config/hotline.yaml`, overridden by `HOTLINE_<SECTION>_<KEY>` variables.

Validated once at start into frozen objects. Every problem names its source: the file and
line with the key path, or the environment variable. The AMI secret is a `SecretStr`, so
it never appears in a log line or a repr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from hotline.common.errors import ConfigError, SettingsNotFound, YamlSyntaxError
from hotline.common.yamlsrc import Sourced, format_path, load_file

ENV_PREFIX = "HOTLINE_"
# Variables with the prefix that are not settings overrides.
RESERVED_ENV = {"HOTLINE_CONFIG", "HOTLINE_REQUIRE_ASTERISK", "HOTLINE_TEST_SANDBOX"}


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MISSING_SECRET = "ami.secret is required for an Asterisk that is not the embedded sandbox"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "hotline"
    # None: use the secret that the embedded sandbox generated for its manager.conf.
    secret: SecretStr | None = None
    connect_timeout: float = Field(5.0, gt=0)
    action_timeout: float = Field(10.0, gt=0)
    # A dead or half-open connection is noticed within this many seconds.
    watchdog_interval: float = Field(5.0, gt=0)
    # Events each consumer (the calls, the queues' changes) may have waiting; past it
    # they are dropped, counted, and the consumer resyncs from Asterisk (an EventGap).
    event_queue: int = Field(10_000, ge=10, le=1_000_000)

    @model_validator(mode="after")
    def _remote_needs_secret(self) -> AmiSettings:
        # The sandbox's generated secret only exists for an Asterisk on this machine.
        if self.secret is None and self.host not in LOOPBACK:
            raise ValueError(MISSING_SECRET)
        return self


class AgiSettings(_Section):
    # The FastAGI server the line's dialplan connects to for every call
    # (agi://host:port/ivr). Loopback: a remote host that does not answer costs Asterisk
    # a 2 s connect timeout per call. None: the AMI port + 1 (as the sandbox renders it).
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535)
    # The lease: seconds a call in hotline's IVR lives without a refresh before Asterisk
    # sends it on (the dialplan's T extension), and seconds between refreshes.
    lease: float = Field(1.75, ge=1.0, le=30.0)
    refresh: float = Field(0.5, gt=0.05, le=5.0)

    @model_validator(mode="after")
    def _refresh_within_lease(self) -> AgiSettings:
        if self.refresh * 2 > self.lease:
            raise ValueError("agi.refresh must be at most half of agi.lease")
        return self


class LedgerSettings(_Section):
    path: Path = Path("../var/ledger.sqlite3")
    # Staff (login names) who may unmask a reporter's or complainant's number, one record
    # at a time; every unmask is audited.
    unmask_users: list[str] = Field(default_factory=list)


class DialplanSettings(_Section):
    paths: list[Path] = Field(default_factory=lambda: [Path("../dialplans")])


class RoutingSettings(_Section):
    path: Path = Path("routing.yaml")
    # Seconds between routing rounds (queue events start one sooner).
    interval: float = Field(2.0, gt=0)
    # Seconds from one round's start to the next's, at least, however many queue events
    # come (each round is a QueueStatus of every queue: with 40 seats in 8 queues 168
    # reply events; at 0.25 s that was most of hotline's CPU on a busy line).
    min_gap: float = Field(1.0, gt=0)


class VoicemailSettings(_Section):
    # Where recordings go: as hotline sees the folder and as Asterisk does. Both None:
    # the embedded sandbox instance's spool.
    host_dir: Path | None = None
    asterisk_dir: str | None = None
    # The INBOX of the box Asterisk's own VoiceMail fills while hotline is down (the
    # dialplan's fallback); hotline imports those messages. None with the sandbox: its
    # 12366@hotline box; None otherwise: no import.
    fallback_inbox: Path | None = None
    # Asterisk's record of calls (its CEL SQLite file, config/asterisk/cel.conf), which
    # hotline reconciles into the ledger at every (re)connect. None with the sandbox: its
    # db/record.db; None otherwise: no reconciling.
    call_record: Path | None = None
    import_interval: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _both_or_neither(self) -> VoicemailSettings:
        if (self.host_dir is None) != (self.asterisk_dir is None):
            raise ValueError("voicemail.host_dir and voicemail.asterisk_dir go together")
        return self


class CalendarSettings(_Section):
    path: Path = Path("calendar.yaml")


class PromptSettings(_Section):
    # Where hotline writes prompt audio and where Asterisk reads the same folder. Both
    # None: the embedded sandbox instance's sounds folder.
    host_dir: Path | None = None
    asterisk_dir: str | None = None
    # Asterisk's own sounds folder as this host sees it, where hotline writes the Mandarin
    # numbers of queue announcements (zh/digits). None: the sandbox's; for an Asterisk of
    # your own, set it or copy them there (`hotline prompts build` says where they are).
    asterisk_sounds_dir: Path | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> PromptSettings:
        if (self.host_dir is None) != (self.asterisk_dir is None):
            raise ValueError("prompts.host_dir and prompts.asterisk_dir go together")
        return self


class ServiceSettings(_Section):
    # `hotline reload` finds the running service by this file (it sends SIGHUP).
    pid_file: Path = Path("../var/hotline.pid")
    # Seconds between checks of the dialplan files for changes (0: only on reload).
    watch_interval: float = Field(1.0, ge=0)
    # Evaluate the calendar (open, after hours, holiday) as if it were this moment: for
    # demos and tests. Ledger times stay real. None: now.
    calendar_time: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> ServiceSettings:
        if self.calendar_time is not None and self.calendar_time.tzinfo is None:
            raise ValueError("service.calendar_time needs a UTC offset, e.g. "
                             "2026-10-01T10:00:00+08:00")
        return self


class WebSettings(_Section):
    # The wallboard (大屏) and its JSON, read-only and without callers' numbers. Listen
    # on a routable address (0.0.0.0) for a screen in the centre; port 0 takes any free
    # port (the log says which).
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8366, ge=0, le=65535)
    # The browser phone (/phone/, served to this machine's own browser only): the SIP
    # library `make webphone` builds, and the secure WebSocket its phones register over
    # (None: the embedded sandbox's, wss://127.0.0.1:<sandbox.wss_port>/ws).
    phone_library: Path = Path("../build/webphone/jssip.min.js")
    phone_server: str | None = Field(None, pattern=r"^wss://[^\s/?#]+(/[^\s?#]*)?$")
    # Staff logins (/login): a session ends after this many minutes without a request,
    # and this many hours after the login whatever happens (a shift). secure_cookies:
    # the session cookie only over HTTPS (behind a TLS proxy, or served with TLS).
    session_idle_minutes: float = Field(30, gt=0, le=24 * 60)
    session_absolute_hours: float = Field(12, gt=0, le=7 * 24)
    secure_cookies: bool = False
    # After-call work (话后处理): a seat working from its page (the page open) is paused
    # with routing.yaml's reason after_call_work when a call it answered ends, until it
    # saves the call's 台帐 entry or this many seconds pass (0: no after-call work).
    after_call_work_seconds: float = Field(120, ge=0, le=3600)


class KbSettings(_Section):
    # The knowledge base's search words (kb_words): the tax terms' user dictionary for
    # jieba and the synonym groups (config/kb/; see hotline/features/kb/words.py).
    dictionary: Path = Path("kb/tax_terms.txt")
    synonyms: Path = Path("kb/synonyms.yaml")


class RecordingsSettings(_Section):
    # Seat conversations are recorded (MixMonitor, both parties) when a seat answers.
    enabled: bool = True
    # Where recordings go: as hotline sees the folder and as Asterisk does. Both None:
    # the embedded sandbox instance's spool (spool/hotline-recordings).
    host_dir: Path | None = None
    asterisk_dir: str | None = None
    # Days a recording is kept (hotline.core.recordings.Retention): `default` for an
    # ordinary call, `confidential` for tip-offs and complaints, `days` per category
    # (overrides both). The service purges what is due every `purge_interval` seconds.
    default_days: int = Field(180, ge=1, le=3650)
    confidential_days: int = Field(730, ge=1, le=3650)
    days: dict[str, int] = Field(default_factory=dict)
    purge_interval: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _both_or_neither(self) -> RecordingsSettings:
        if (self.host_dir is None) != (self.asterisk_dir is None):
            raise ValueError("recordings.host_dir and recordings.asterisk_dir go together")
        for category, value in self.days.items():
            if not 1 <= value <= 3650:
                raise ValueError(f"recordings.days.{category}: {value} is not 1..3650")
        return self


class QualitySettings(_Section):
    # Quality review (质检): the sampling plan and the review form (config/quality.yaml).
    path: Path = Path("quality.yaml")
    # The service draws the day's calls for review once a day at this Beijing time
    # (HH:MM), after the working day; a start later that day draws at once (a rerun
    # draws nothing twice). enabled false: no daily draw (`hotline quality draw` still).
    draw_at: str = Field("18:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    enabled: bool = True


class LogSettings(_Section):
    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class SandboxSettings(_Section):
    # Where the Debian sid root with Asterisk is built; None: $XDG_CACHE_HOME/hotline or
    # /var/cache/hotline.
    cache_dir: Path | None = None
    instance: str = Field("default", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    # "auto": the Debian mirror that this machine's own apt sources use.
    mirror: str = "auto"
    # Templates of the Asterisk configuration (config/asterisk/ in the repository).
    templates: Path = Path("asterisk")
    # `hotline run --with-sandbox` logs these seats in (recorded, actor "demo") so a demo
    # call reaches someone who answers: the sandbox's Local-channel seats answer.
    demo_seats: list[str] = ["8001"]
    # SIP (pjsip.conf): Asterisk's UDP port (None: the AMI port + 2, like the FastAGI
    # port beside it, so instances run side by side), the address it listens on
    # (127.0.0.1: phones and a trunk on this machine), and where the carrier's trunk sends
    # from: an address with its source port (a seat's phone on the same address registers
    # from another port), or an address alone for a carrier on a machine of its own.
    sip_port: int | None = Field(None, ge=1, le=65535)
    sip_bind: str = "127.0.0.1"
    sip_trunk: str = "127.0.0.1:5060"
    # The seats' browser phones: Asterisk's secure WebSocket port (TCP, always on
    # 127.0.0.1; None: the AMI port + 3).
    wss_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _sip_addresses(self) -> SandboxSettings:
        import ipaddress

        host, _, port = self.sip_trunk.partition(":")
        try:
            ipaddress.IPv4Address(self.sip_bind)
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("sandbox.sip_bind and sandbox.sip_trunk are IPv4 addresses "
                             "(sip_trunk optionally with :port)") from None
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"sandbox.sip_trunk: {port!r} is not a port")
        return self


class Settings(_Section):
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    ledger: LedgerSettings = LedgerSettings()
    dialplans: DialplanSettings = DialplanSettings()
    routing: RoutingSettings = RoutingSettings()
    calendar: CalendarSettings = CalendarSettings()
    voicemail: VoicemailSettings = VoicemailSettings()
    prompts: PromptSettings = PromptSettings()
    service: ServiceSettings = ServiceSettings()
    web: WebSettings = WebSettings()
    kb: KbSettings = KbSettings()
    recordings: RecordingsSettings = RecordingsSettings()
    quality: QualitySettings = QualitySettings()
    log: LogSettings = LogSettings()
    sandbox: SandboxSettings = SandboxSettings()
    # Relative paths above are resolved against this folder (the config file's folder).
    base_dir: Path = Path(".")

    @property
    def agi_port(self) -> int:
        """The FastAGI port: agi.port, else the one beside the AMI port."""
        from hotline.pbx.fastagi import default_agi_port

        return self.agi.port if self.agi.port is not None else default_agi_port(self.ami.port)

    def resolve(self, path: Path) -> Path:
        """`path` made absolute against the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()


SECTIONS = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, _Section)
}


def default_config_path() -> Path | None:
    """`$HOTLINE_CONFIG`, else `config/hotline.yaml` under the current folder if present."""
    explicit = os.environ.get("HOTLINE_CONFIG")
    if explicit:
        return Path(explicit)
    here = Path("config/hotline.yaml")
    return here if here.exists() else None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load, override from `env` and validate; raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    source: Sourced | None = None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            source = load_file(path)
        except FileNotFoundError:
            raise SettingsNotFound([f"{path}: config file not found"]) from None
        except YamlSyntaxError as exc:  # reported as the settings' problem, like the rest
            raise ConfigError(exc.problems) from None
        if not isinstance(source.data, dict):
            raise ConfigError([f"{source.where(())}: the top level must be a mapping of sections"])
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in source.data.items()}

    env_origin: dict[tuple[str, str], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        model = SECTIONS.get(section)
        if model is None or not key or key not in model.model_fields:
            problems.append(f"${name}: no such setting (expected HOTLINE_<SECTION>_<KEY>, "
                            f"sections: {', '.join(sorted(SECTIONS))})")
            continue
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            continue  # reported by validation below, at the file's line
        target[key] = _env_value(raw)
        env_origin[(section, key)] = name

    # Without a file, relative defaults behave as if the file were ./config/hotline.yaml.
    base = path.parent.resolve() if path is not None else Path.cwd() / "config"
    try:
        settings = Settings.model_validate({**data, "base_dir": base})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if MISSING_SECRET in err["msg"]:
                loc, err = (*loc, "secret"), {**err, "type": "missing"}
            where = _origin(loc, source, env_origin, path)
            problems.append(f"{where}: {format_path(loc)}: {_message(err)}")
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


def _env_value(raw: str) -> Any:
    """Environment values are YAML scalars (`5039` is a number), or text when not parsable."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    # A list is allowed (HOTLINE_DIALPLANS_PATHS="[dialplans, more]"), a mapping is not.
    return raw if value is None or isinstance(value, dict) else value


def _origin(
    loc: tuple[Any, ...],
    source: Sourced | None,
    env_origin: dict[tuple[str, str], str],
    path: Path | None,
) -> str:
    if len(loc) >= 2 and (loc[0], loc[1]) in env_origin:
        return "$" + env_origin[(loc[0], loc[1])]
    if source is not None:
        return source.where(loc)
    return str(path) if path is not None else "(defaults)"


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    msg: str = err["msg"]
    return msg
