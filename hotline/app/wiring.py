"""Objects built in one place from the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hotline.app.settings import Settings
from hotline.common.errors import (
    AmiNoSecret,
    CalendarInvalid,
    ConfigError,
    RoutingInvalid,
    YamlSyntaxError,
)
from hotline.common.validate import syntax_problems
from hotline.common.yamlsrc import Problem, Sourced, load_file
from hotline.core.calendar.schedule import Calendar, parse_calendar
from hotline.core.recordings import Retention
from hotline.core.routing.config import RoutingConfig, parse_routing
from hotline.features.ivr.prompts import PromptStore
from hotline.features.ivr.registry import DialplanFiles
from hotline.pbx.gateway import AmiGateway
from hotline.pbx.sandbox import Instance, Sandbox, default_cache_dir

if TYPE_CHECKING:
    from aiohttp import web

    from hotline.core.configuration import ConfigAccessor
    from hotline.core.quality import Plan
    from hotline.features.accounts.service import Accounts
    from hotline.features.kb.service import OnPublish
    from hotline.features.kb.words import Words
    from hotline.features.orders.service import OrderSources
    from hotline.features.phone.web import PhonePage
    from hotline.features.quality.desk import QualityDesk
    from hotline.features.recordings.desk import RecordingDesk
    from hotline.features.seats.routing_loop import RoutingLoop
    from hotline.features.spool import Spool
    from hotline.features.workbench.seat import SeatWork
    from hotline.ledger.store import Ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def sandbox_from(settings: Settings) -> Sandbox:
    cache = settings.sandbox.cache_dir
    templates = settings.resolve(settings.sandbox.templates)
    if not templates.is_dir():
        # Running without a config file from elsewhere: the repository's templates.
        templates = REPO_ROOT / "config" / "asterisk"
    return Sandbox(settings.resolve(cache) if cache else default_cache_dir(), templates,
                   settings.sandbox.mirror)


def instance_from(settings: Settings) -> Instance:
    sandbox = settings.sandbox
    return sandbox_from(settings).instance(sandbox.instance, settings.ami.port,
                                           settings.agi.port, sandbox.sip_port,
                                           sandbox.sip_trunk, sandbox.sip_bind,
                                           sandbox.wss_port)


def phone_page_from(settings: Settings,
                    routing: Callable[[], RoutingConfig | None]) -> PhonePage:
    """The browser phone's page: the seats of the live routing.yaml whose phone it is, and
    the WebSocket they register over (web.phone_server, else the embedded sandbox's)."""
    from hotline.features.phone.web import PhonePage, PhoneSeat, PhoneServer, PhoneSources
    from hotline.pbx.pjsip_conf import webrtc_seats

    configured = settings.web.phone_server
    if configured is not None:
        server: PhoneServer | None = PhoneServer(configured)
    elif settings.ami.secret is None:  # the embedded sandbox
        server = PhoneServer(instance_from(settings).wss_url)
    else:
        server = None

    def seats() -> list[PhoneSeat]:
        config = routing()
        if config is None:
            return []
        return [PhoneSeat(seat, config.seats[seat].name, user)
                for seat, user in webrtc_seats(config).items()]

    return PhonePage(PhoneSources(seats, lambda: server,
                                  settings.resolve(settings.web.phone_library)))


def workbench_from(settings: Settings, ledger: Ledger,
                   routing: Callable[[], RoutingConfig | None],
                   seat_work: SeatWork | None = None,
                   config: ConfigAccessor | None = None,
                   board: Callable[[], Awaitable[dict[str, Any]] | None] = lambda: None,
                   orders: OrderSources | None = None,
                   routing_loop: Callable[[], RoutingLoop | None] = lambda: None,
                   phone: PhonePage | None = None,
                   kb_publish: OnPublish | None = None,
                   recordings: RecordingDesk | None = None,
                   quality: QualityDesk | None = None,
                   ) -> tuple[Accounts, list[Callable[[web.Application], None]]]:
    """The staff accounts on the service's ledger, and the routes of the login pages, the
    /api/v1 API (queues, voicemail, unmasking), (given `seat_work`) the seat's page (with
    the browser phone of `phone` in it) and the team leader's, (given `config`) the
    admin's page, (given `orders`) the work orders' routes and pages, and the call history
    and reports pages (for the web server's `pages`; `board`: the wallboard's status,
    which the leader's floor shows)."""
    from datetime import timedelta

    from hotline.common.clock import utc_now
    from hotline.core.accounts import SessionLimits
    from hotline.features.accounts.passwords import Passwords
    from hotline.features.accounts.service import Accounts
    from hotline.features.accounts.web import Api, Pages, api_routes

    def remote() -> set[str]:
        config = routing()
        return {g for g, group in config.groups.items() if group.remote} if config else set()

    def places() -> tuple[set[str], dict[str, str]] | None:
        config = routing()
        if config is None:
            return None
        return set(config.groups), {s: seat.group for s, seat in config.seats.items()}

    web_settings = settings.web
    limits = SessionLimits(idle=timedelta(minutes=web_settings.session_idle_minutes),
                           absolute=timedelta(hours=web_settings.session_absolute_hours))
    accounts = Accounts(ledger, Passwords(), utc_now, limits, remote_bureaus=remote)
    api = Api(accounts)
    api_routes(api, places)
    pages = Pages(accounts, secure_cookies=web_settings.secure_cookies)
    added: list[Callable[[web.Application], None]] = [pages.add_routes]
    if seat_work is not None:
        from hotline.features.workbench.web import seat_page

        added.append(seat_page(seat_work, api, phone))  # its API routes before add_routes
        from hotline.features.workbench.leader import LeaderWork
        from hotline.features.workbench.leader_web import leader_page

        added.append(leader_page(LeaderWork(seat_work, board), api))
    if config is not None:
        from hotline.features.workbench.admin import admin_page

        added.append(admin_page(api, config))
    from hotline.features.reports.web import RecordSources, record_pages

    added.append(record_pages(RecordSources(
        ledger, routing, lambda: set(settings.ledger.unmask_users)), api))
    if orders is not None:
        from hotline.features.orders.service import OrderDesk
        from hotline.features.orders.web import order_pages

        desk = OrderDesk(orders)
        added.append(order_pages(desk, api))
        if seat_work is not None:
            seat_work.entry_order = desk.for_entry  # a 台帐 entry's 转工单 opens the order
    from hotline.features.kb.service import TOPIC_LABELS, KbDesk, topics_of
    from hotline.features.kb.web import kb_pages
    from hotline.ledger.kb import KnowledgeBase

    def kb_topics() -> dict[str, str]:
        return (topics_of(config().dialplans.values()) if config is not None else {}
                ) or dict(TOPIC_LABELS)

    # The knowledge base (知识库): its API, page and the seat page's search box;
    # `kb_publish`: the line's spoken prompt, built before a publication.
    added.append(kb_pages(KbDesk(KnowledgeBase(ledger), kb_topics, remote, utc_now,
                                 on_publish=kb_publish), api))
    from hotline.features.board.api import QueuesApi
    from hotline.features.voicemail.web import VoicemailApi
    from hotline.features.workbench.unmask import Unmasking

    QueuesApi(ledger, routing_loop, utc_now, api)
    VoicemailApi(ledger, api)
    if recordings is not None:  # seat conversation recordings: list, play (audited)
        from hotline.features.recordings.web import RecordingsApi

        RecordingsApi(recordings, api)
    if quality is not None:  # quality review: the queue, the form, reviews (audited)
        from hotline.features.quality.web import quality_pages

        added.append(quality_pages(quality, api))  # its API, and /workbench/quality
    added.append(Unmasking(ledger, api).add_routes)
    return accounts, [*added, api.add_routes]


def ami_secret(settings: Settings) -> str:
    """The configured secret, or the embedded sandbox instance's generated one."""
    if settings.ami.secret is not None:
        return settings.ami.secret.get_secret_value()
    inst = instance_from(settings)
    path = inst.dir / "ami.secret"
    if not path.exists():
        raise AmiNoSecret([
            f"ami.secret is not set and the embedded sandbox has no secret yet ({path}): "
            "start it with `hotline sandbox up`, or set ami.secret for an existing Asterisk"
        ])
    return inst.secret()


def gateway_from(settings: Settings) -> AmiGateway:
    ami = settings.ami
    return AmiGateway(ami.host, ami.port, ami.username, ami_secret(settings),
                      action_timeout=ami.action_timeout, connect_timeout=ami.connect_timeout,
                      watchdog_interval=ami.watchdog_interval, queue_size=ami.event_queue)


def prompts_from(settings: Settings) -> PromptStore:
    """Prompt audio: the configured folders, or the sandbox instance's sounds folder."""
    if settings.prompts.host_dir is not None and settings.prompts.asterisk_dir is not None:
        return PromptStore(settings.resolve(settings.prompts.host_dir),
                           settings.prompts.asterisk_dir)
    inst = instance_from(settings)
    return PromptStore(inst.dir / "sounds" / "hotline", f"{inst.chroot_dir}/sounds/hotline")


def queue_sounds_from(settings: Settings) -> tuple[PromptStore, PromptStore | None]:
    """Where the Mandarin queue announcements go: the phrases beside the prompts, the
    numbers in Asterisk's sounds folder for language zh (None: not reachable from here)."""
    from hotline.features.ivr.prompts import QUEUE_FOLDER, QUEUE_LANGUAGE

    phrases = prompts_from(settings).for_dialplan(QUEUE_FOLDER)
    sounds = settings.prompts.asterisk_sounds_dir
    if sounds is not None:
        base: Path | None = settings.resolve(sounds)
    elif settings.prompts.host_dir is None:
        base = sandbox_from(settings).root / "usr/share/asterisk/sounds"
    else:
        base = None
    numbers = (PromptStore(base / QUEUE_LANGUAGE / "digits", f"{QUEUE_LANGUAGE}/digits")
               if base is not None else None)
    return phrases, numbers


def build_queue_sounds(settings: Settings) -> list[str]:
    """Make the queue announcements playable (idempotent); returns what was built."""
    from hotline.features.ivr.prompts import number_words, queue_phrases

    phrases, numbers = queue_sounds_from(settings)
    built = [f"{phrases.host_dir.name}/{name}" for name in phrases.build(queue_phrases())]
    if numbers is not None:
        built += [f"digits/{name}" for name in numbers.build(number_words())]
    return built


def ledger_path(settings: Settings) -> Path:
    return settings.resolve(settings.ledger.path)


def _config_file(path: Path, parse: Callable[[Sourced], T],
                 invalid: type[ConfigError]) -> T | None:
    """A YAML config file parsed and validated (None if there is no such file); a YAML
    syntax error is reported as `invalid` (RoutingInvalid...) like the file's other
    problems, with its file and line."""
    if not path.exists():
        return None
    try:
        source = load_file(path)
    except YamlSyntaxError as exc:
        raise invalid(syntax_problems(exc)) from None
    except OSError as exc:  # a folder, no permission, gone since exists()...
        raise invalid([Problem(str(path), 1, (), f"cannot read the file: "
                               f"{exc.strerror or exc}")]) from None
    return parse(source)


def routing_from(settings: Settings) -> RoutingConfig | None:
    """config/routing.yaml, validated (None if there is no routing file)."""
    return _config_file(settings.resolve(settings.routing.path), parse_routing,
                        RoutingInvalid)


def asterisk_files(settings: Settings,
                   routing: RoutingConfig | None = None) -> dict[str, str]:
    """The Asterisk configuration hotline writes itself from routing.yaml: queues.conf, and
    the seats' SIP phones (pjsip_seats.conf, with the passwords the sandbox keeps)."""
    from hotline.pbx.pjsip_conf import FILE_NAME, render_seats
    from hotline.pbx.queues_conf import render_queues

    routing = routing or routing_from(settings)
    if routing is None:
        return {}
    phrases, _ = queue_sounds_from(settings)
    return {"queues.conf": render_queues(routing, phrases.asterisk_dir),
            FILE_NAME: render_seats(routing, instance_from(settings).sip_secret)}


def known_queues(settings: Settings) -> set[str] | None:
    """The queue names of config/routing.yaml (None if there is no routing file)."""
    routing = routing_from(settings)
    return None if routing is None else set(routing.queues)


def dialplan_files_from(settings: Settings) -> DialplanFiles:
    """The dialplan files of the settings (problems named relative to the working folder)."""
    return DialplanFiles([settings.resolve(p) for p in settings.dialplans.paths],
                         display_root=Path.cwd())


def calendar_from(settings: Settings, queues: Collection[str] | None = None) -> Calendar:
    """config/calendar.yaml, validated (the default calendar if there is no file);
    queue_hours must name one of `queues` (routing.yaml's) when they are given."""
    calendar = _config_file(settings.resolve(settings.calendar.path),
                            lambda source: parse_calendar(source, queues),
                            CalendarInvalid)
    return calendar if calendar is not None else Calendar()


def spool_from(settings: Settings) -> Spool:
    """Voicemail recordings: the configured folders, or the sandbox instance's spool."""
    from hotline.features.spool import Spool

    vm = settings.voicemail
    if vm.host_dir is not None and vm.asterisk_dir is not None:
        return Spool(settings.resolve(vm.host_dir), vm.asterisk_dir)
    inst = instance_from(settings)
    return Spool(inst.dir / "spool" / "hotline-voicemail",
                 f"{inst.chroot_dir}/spool/hotline-voicemail")


def recordings_spool_from(settings: Settings) -> Spool:
    """Seat conversation recordings: the configured folders, or the sandbox instance's
    spool/hotline-recordings."""
    from hotline.features.spool import Spool

    rec = settings.recordings
    if rec.host_dir is not None and rec.asterisk_dir is not None:
        return Spool(settings.resolve(rec.host_dir), rec.asterisk_dir)
    inst = instance_from(settings)
    return Spool(inst.dir / "spool" / "hotline-recordings",
                 f"{inst.chroot_dir}/spool/hotline-recordings")


def retention_from(settings: Settings) -> Retention:
    """recordings' retention periods (a bad one is a settings error)."""
    rec = settings.recordings
    return Retention(default=rec.default_days, confidential=rec.confidential_days,
                     days=dict(rec.days))


def quality_plan_from(settings: Settings) -> Plan:
    """config/quality.yaml, validated against routing.yaml's seat groups (the default
    plan, 3 % centre and 6 % remote, if there is no file)."""
    from hotline.common.errors import QualityPlanInvalid
    from hotline.core.quality import parse_quality

    routing = routing_from(settings)
    groups = set(routing.groups) if routing is not None else None

    def parse(source: Sourced) -> Plan:
        try:
            return parse_quality(source, groups)
        except QualityPlanInvalid:
            raise
        except ConfigError as exc:
            raise QualityPlanInvalid(exc.problems) from None

    from hotline.core.quality import Plan as DefaultPlan

    plan = _config_file(settings.resolve(settings.quality.path), parse, QualityPlanInvalid)
    return plan if plan is not None else DefaultPlan()


def quality_desk_from(settings: Settings, ledger: Ledger,
                      routing: Callable[[], RoutingConfig | None]) -> QualityDesk:
    """The quality review desk on the service's ledger. Its plan is config/quality.yaml,
    read when the desk needs it (a draw, a review's form): an edit is in force at once;
    a broken edit is logged and the last good plan stays (checked at start: a broken file
    stops the start, as the other files do)."""
    import structlog

    from hotline.common.clock import utc_now
    from hotline.features.quality.desk import QualityDesk

    good = [quality_plan_from(settings)]

    def plan() -> Plan:
        try:
            good[0] = quality_plan_from(settings)
        except ConfigError as exc:
            structlog.get_logger("hotline.quality").error(
                "quality.plan_invalid", problems=[str(p) for p in exc.problems])
        return good[0]

    return QualityDesk(ledger, plan, routing, utc_now)


def recordings_desk_from(settings: Settings, ledger: Ledger) -> RecordingDesk:
    """The recordings desk on the service's ledger: its folder, retention and purge
    interval as configured."""
    from hotline.common.clock import utc_now
    from hotline.features.recordings.desk import RecordingDesk

    return RecordingDesk(ledger, recordings_spool_from(settings), retention_from(settings),
                         utc_now, purge_interval=settings.recordings.purge_interval)


def call_record_from(settings: Settings) -> Path | None:
    """Asterisk's record of calls (see VoicemailSettings.call_record)."""
    vm = settings.voicemail
    if vm.call_record is not None:
        return settings.resolve(vm.call_record)
    if vm.host_dir is not None:
        return None  # an Asterisk of its own: say where its record is, or nothing
    return instance_from(settings).dir / "db" / "record.db"


def fallback_inbox_from(settings: Settings) -> Path | None:
    vm = settings.voicemail
    if vm.fallback_inbox is not None:
        return settings.resolve(vm.fallback_inbox)
    if vm.host_dir is not None:
        return None  # an Asterisk of its own: say where its fallback box is, or nothing
    return instance_from(settings).dir / "spool" / "voicemail" / "hotline" / "12366" / "INBOX"


def kb_words_paths(settings: Settings) -> tuple[Path, Path]:
    """The knowledge base's words files (kb.dictionary, kb.synonyms): as set, or, when the
    defaults are not beside the config file (no config/kb/ there), the shipped ones."""
    from hotline.app.settings import KbSettings
    from hotline.features.kb.words import SHIPPED_DICTIONARY, SHIPPED_SYNONYMS

    kb, default = settings.kb, KbSettings()
    paths = []
    for value, fallback, shipped in ((kb.dictionary, default.dictionary, SHIPPED_DICTIONARY),
                                     (kb.synonyms, default.synonyms, SHIPPED_SYNONYMS)):
        path = settings.resolve(value)
        paths.append(shipped if value == fallback and not path.exists() else path)
    return paths[0], paths[1]


def kb_words_marker(settings: Settings) -> Path:
    """The file beside the ledger that holds the fingerprint of the words the knowledge
    base's index was built with (words.reindex_if_changed)."""
    ledger = ledger_path(settings)
    return ledger.with_name(ledger.name + ".kb-words")


def configure_kb_words(settings: Settings) -> Words:
    """Load the tax terms' dictionary and the synonyms of the settings into the knowledge
    base's search (hotline.features.kb.words), at start and by `hotline check`; a broken
    file raises KbWordsInvalid naming its file and line. About a second (jieba builds its
    dictionary): from the event loop, run it in a thread."""
    from hotline.features.kb import words

    dictionary, synonyms = kb_words_paths(settings)
    return words.configure(dictionary, synonyms)
