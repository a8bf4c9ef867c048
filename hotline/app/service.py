"""The hotline service: one TaskGroup owns every long-lived task; SIGINT/SIGTERM end it.

Calls reach it over FastAGI (hotline.pbx.fastagi: one connection per call, served by a
task of the group), and the lease task pushes each of those calls' TIMEOUT(absolute)
forward over AMI from the same event loop: if the service dies, its connections drop and
Asterisk sends the callers on at once; if it wedges or loses AMI, the leases run out and
Asterisk sends them on within agi.lease seconds. No heartbeat, no shared clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Iterable
from datetime import datetime
from datetime import time as dt_time
from pathlib import Path

import structlog

from hotline.app.files import private_files
from hotline.app.live import LiveConfiguration
from hotline.app.logs import survive_lost_output
from hotline.app.settings import Settings
from hotline.app.wiring import (
    asterisk_files,
    build_queue_sounds,
    call_record_from,
    configure_kb_words,
    fallback_inbox_from,
    gateway_from,
    instance_from,
    kb_words_marker,
    ledger_path,
    phone_page_from,
    prompts_from,
    quality_desk_from,
    recordings_desk_from,
    recordings_spool_from,
    spool_from,
    workbench_from,
)
from hotline.common.clock import CHINA, Clock, utc_now
from hotline.common.errors import DemoSeatsInvalid
from hotline.core.configuration import Configuration
from hotline.core.ivr.dialplan import Dialplan
from hotline.core.routing.config import RoutingConfig
from hotline.features.accounts.service import Accounts
from hotline.features.board.web import Sources, Wallboard
from hotline.features.calls.handling import CallHandling
from hotline.features.calls.reconcile import Reconciler
from hotline.features.errors import ServiceRunning
from hotline.features.ivr.prompts import PromptError, PromptStore, prompts_of
from hotline.features.kb import words as kb_words
from hotline.features.kb.line import KB_FOLDER, KbLine
from hotline.features.orders.service import OrderSources
from hotline.features.recordings.recorder import SeatRecorder
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.features.voicemail.service import Voicemail
from hotline.features.workbench.seat import SeatSources, SeatWork
from hotline.ledger.kb import KnowledgeBase
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger
from hotline.pbx.events import AsteriskBooted, AsteriskShuttingDown, LifecycleEvent
from hotline.pbx.fastagi import FastAgiServer, Lease
from hotline.pbx.gateway import AmiError, AmiGateway
from hotline.pbx.pjsip_conf import FILE_NAME as SIP_SEATS_FILE
from hotline.pbx.record import CallRecord
from hotline.pbx.sandbox import SandboxError

log = structlog.get_logger("hotline.service")


class Service:
    def __init__(self, settings: Settings, gateway: AmiGateway | None = None, *,
                 login_seats: Iterable[str] = ()) -> None:
        self.settings = settings
        # Seats to log in at start if they are not (the sandbox's demo seats).
        self.login_seats = tuple(login_seats)
        self.gateway = gateway or gateway_from(settings)
        self.fully_booted = asyncio.Event()
        # The service's one clock: pinned by service.calendar_time (trying the line,
        # tests), else the real time. It times decisions (calendar, deadlines, open or
        # closed); the ledger's call times stay real (hotline.common.clock).
        self.clock = Clock(settings.service.calendar_time)
        self.calls: CallHandling | None = None
        # The one live configuration (dialplans, routing, calendar): every part reads
        # live.current(); reload() swaps it whole.
        self.live = LiveConfiguration(settings)
        self.live.prepare = self._prepare_reload
        self.live.applied = self._reloaded
        self.voicemail: Voicemail
        self.prompts: PromptStore
        self.kb_line: KbLine  # the knowledge base the line offers, once run() opened it
        self.web: Wallboard | None = None  # the wallboard, once run() has started it
        self.accounts: Accounts  # the staff accounts, once run() has opened the ledger
        self._stop = asyncio.Event()
        self._reload_wanted = asyncio.Event()

    def _check_login_seats(self, routing: RoutingConfig | None) -> None:
        problems = []
        for seat in self.login_seats:
            if routing is None or seat not in routing.seats:
                known = ", ".join(sorted(routing.seats)) if routing is not None else "none"
                problems.append(f"sandbox.demo_seats: unknown seat {seat!r} (routing.yaml "
                                f"has: {known})")
            elif routing.groups[routing.seats[seat].group].remote:
                problems.append(f"sandbox.demo_seats: {seat!r} is a remote seat; demo "
                                "seats are centre seats")
        if problems:
            raise DemoSeatsInvalid(problems)

    async def _login_seats(self, ledger: Ledger) -> None:
        """Log in the demo seats (recorded like a seat's own login); the routing loop then
        makes them members of their queues."""
        book = SeatBook(ledger)
        for seat in self.login_seats:
            if not (await book.state(seat)).logged_in:
                await book.record(seat, "login", at=utc_now(), actor="demo")
                log.info("seat.demo_login", seat=seat)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until stop() (or a signal, see `serve`); raises AmiLoginRefused."""
        private_files()  # also when the service is embedded, not started by `hotline`
        # A bad file stops a cold start (on a reload the last good version stays).
        warnings = self.live.load()
        # The knowledge base's search words (tax terms, synonyms): a bad file stops the
        # start too (kb-words-invalid); jieba's dictionary takes about a second.
        await asyncio.to_thread(configure_kb_words, self.settings)
        config = self.live.current
        routing = config().routing
        self._check_login_seats(routing)
        for problem in warnings:
            log.warning("dialplan.warning", problem=str(problem))
        prompts = prompts_from(self.settings)
        self.prompts = prompts
        await self._build_prompts(config().dialplans.values())
        await self._build_queue_sounds()
        ledger = await Ledger.open(ledger_path(self.settings))
        clock = self.clock
        fixed = clock.pinned
        self.warn_missing_years(fixed)
        voicemail = Voicemail(ledger, spool_from(self.settings),
                              lambda: config().calendar, utc_now, clock)
        self.voicemail = voicemail
        await voicemail.reconcile()
        await self._import_fallback_voicemail()
        record = call_record_from(self.settings)
        reconciler = Reconciler(CallRecord(record) if record is not None else None, ledger,
                                config, lambda: self.gateway.lost_contact_at,
                                lambda: self.gateway.asterisk_restarted)
        # The knowledge base the line offers (kb_menu, kb): its snapshot, reloaded when
        # the ledger's entries change; a first failure leaves the line without entries.
        # The index cut again if the search words changed since it was built.
        reindexed = await kb_words.reindex_if_changed(KnowledgeBase(ledger),
                                                      kb_words_marker(self.settings))
        if reindexed is not None:
            log.info("kb.reindexed", entries=reindexed, words=kb_words.fingerprint())
        self.kb_line = KbLine(KnowledgeBase(ledger), prompts.for_dialplan(KB_FOLDER))
        try:
            await self.kb_line.refresh()
        except Exception as exc:
            log.error("kb.line_reload_failed", error=str(exc))
        self.calls = CallHandling(self.gateway, ledger, config, prompts,
                                  service_clock=clock, voicemail=voicemail,
                                  reconciler=reconciler, kb=self.kb_line)
        agi = self.settings.agi
        self.lease = Lease(self._refresh_lease, seconds=agi.lease, interval=agi.refresh,
                           setvar_many=self._refresh_leases)
        # First on every reconnect, before the resync: what a lost link held may still
        # run, in part (a refresh without the void that followed it).
        self.gateway.on_connect(self.lease.relinked)
        self.agi_server = FastAgiServer(agi.host, self.settings.agi_port, self.lease,
                                        self.calls.on_agi_call)
        self.calls.agi_server = self.agi_server
        self.routing: RoutingLoop | None = None
        if routing is not None:
            await self._login_seats(ledger)
            self.routing = RoutingLoop(
                self.gateway, ledger, config,
                lambda now: config().calendar.state(clock.at(now)) == "open", utc_now,
                self.settings.routing.interval, min_gap=self.settings.routing.min_gap,
                queue_open=lambda now: {
                    queue: config().calendar.state(clock.at(now), queue) == "open"
                    for queue in config().calendar.queue_hours})
        if fixed:
            log.warning("service.calendar_time_fixed", calendar_time=fixed.isoformat())
        calls = self.calls
        self.seat_work = SeatWork(SeatSources(
            self.gateway, ledger, lambda: config().routing, lambda: calls.tracker.calls,
            lambda: self.routing, utc_now,
            wrap_up_seconds=self.settings.web.after_call_work_seconds,
            dialplans=lambda: config().dialplans))
        calls.listeners.append(self.seat_work.on_call)
        # Seat conversations recorded (MixMonitor when a seat answers), each with its row.
        self.recorder: SeatRecorder | None = None
        if self.settings.recordings.enabled:
            # The seat as the calls' rows name it (the queue member's name).
            self.recorder = SeatRecorder(ledger, recordings_spool_from(self.settings),
                                         lambda: calls.tracker.calls)
            calls.recorder = self.recorder
            calls.listeners.append(self.recorder.on_call)
        phone = phone_page_from(self.settings, lambda: config().routing)
        recordings = recordings_desk_from(self.settings, ledger)  # list, play, purge
        quality = quality_desk_from(self.settings, ledger, lambda: config().routing)
        self.accounts, workbench = workbench_from(
            self.settings, ledger, lambda: config().routing, self.seat_work, config,
            orders=OrderSources(ledger, lambda: config().calendar, lambda: config().routing,
                                clock, utc_now),
            board=lambda: self.web.status() if self.web is not None else None,
            routing_loop=lambda: self.routing, phone=phone,
            kb_publish=self.kb_line.on_publish,  # the line's spoken prompt, measured
            recordings=recordings, quality=quality)
        if self.settings.web.enabled:
            self.web = Wallboard(Sources(
                self.gateway, ledger, self.calls.writer, lambda: self.routing,
                lambda: config().calendar, utc_now, clock),
                pages=[phone.add_routes, *workbench])
        log.info("service.starting", ami=self.gateway.address, user=self.gateway.username,
                 ledger=str(ledger.path))
        try:
            await self.agi_server.listen()  # the port calls arrive on: taken, no start
            if self.web is not None:
                await self.web.start(self.settings.web.host, self.settings.web.port)
            async with asyncio.TaskGroup() as group:
                # The event consumers are tasks of this group too (subscribed before the
                # gateway runs, so no event is missed), and each is unsubscribed on stop.
                spawn = group.create_task
                subscriptions = [self.calls.attach(spawn), self.gateway.subscribe_lifecycle(
                    self._on_lifecycle, spawn=spawn)]
                if self.routing is not None:
                    subscriptions.append(self.routing.attach(spawn))
                tasks = [group.create_task(self.gateway.run(), name="ami-gateway"),
                         group.create_task(self.agi_server.run(), name="fastagi"),
                         group.create_task(self.lease.run(), name="agi-lease"),
                         group.create_task(self.calls.writer.run(), name="ledger-writer"),
                         group.create_task(self._reloads(), name="reloads"),
                         group.create_task(self._import_loop(), name="voicemail-import"),
                         group.create_task(self.calls.prune_record_loop(),
                                           name="record-prune"),
                         group.create_task(self.kb_line.run(), name="kb-line"),
                         group.create_task(recordings.purge_loop(),
                                           name="recordings-purge")]
                if self.routing is not None:
                    tasks.append(group.create_task(self.routing.run(), name="routing"))
                if self.settings.quality.enabled:  # the daily draw for quality review
                    hour, minute = map(int, self.settings.quality.draw_at.split(":"))
                    tasks.append(group.create_task(
                        quality.draw_loop(dt_time(hour, minute)), name="quality-draw"))
                if self.recorder is not None:
                    tasks.append(group.create_task(self.recorder.run(), name="recordings"))
                # After the FastAGI port listens: its Argon2 hash (0.1-0.2 s of CPU, more
                # on a loaded machine) must not delay the first call.
                tasks.append(group.create_task(self._default_admin(), name="default-admin"))
                await self._stop.wait()
                # The IVR sessions are the call handling's own (one per call, each ending
                # with its call; a session's failure must not end the service, as a
                # failed task of this group would): shutdown() cancels and awaits them.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(3.0):
                        await self.calls.shutdown()
                if self.recorder is not None:
                    with contextlib.suppress(Exception):
                        await self.recorder.drain()
                for subscription in subscriptions:
                    subscription.unsubscribe()
                for task in tasks:
                    task.cancel()
        except BaseExceptionGroup as group_error:
            # One task failed (the gateway refused its login): raise that error itself.
            first = group_error.exceptions[0]
            raise first from None
        finally:
            if self.web is not None:
                with contextlib.suppress(Exception):
                    await self.web.stop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.gateway.close()
            await ledger.close()
            log.info("service.stopped")

    async def _default_admin(self) -> None:
        """The first start (a ledger with no account): the default admin, its one-time
        password printed once to the terminal (stderr), never to the log."""
        from hotline.features.cli_support import os_account

        login = os_account()
        try:
            password = await self.accounts.ensure_default_admin(login)
        except Exception:  # the line goes on; `hotline users init` can do it later
            log.exception("accounts.default_admin_failed")
            return
        if password is None:
            return
        about = (f"(the default admin 'admin', bound to the OS account {login!r}: log in at "
                 "/login; the password must be changed at the first login)")
        if _is_terminal(sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                print(f"hotline: 默认管理员账号 admin 已创建，一次性密码 {password} {about}",
                      file=sys.stderr, flush=True)
            return
        # stderr is a file or a journal, where the log goes too: the password goes to a
        # file only its owner may read, beside the ledger, and the log names the file.
        where = ledger_path(self.settings).parent / ADMIN_PASSWORD_FILE
        try:
            await asyncio.to_thread(_write_private, where, f"{password}\n")
        except OSError as exc:
            log.error("accounts.default_admin_password_not_written", path=str(where),
                      error=str(exc), hint="run `hotline users passwd admin` for a new one")
            return
        log.warning("accounts.default_admin_password_file", path=str(where),
                    hint="read it, log in at /login, change it; then delete the file")
        with contextlib.suppress(OSError, ValueError):
            print(f"hotline: 默认管理员账号 admin 已创建，一次性密码见文件 {where} {about}",
                  file=sys.stderr, flush=True)

    async def _import_fallback_voicemail(self) -> None:
        inbox = fallback_inbox_from(self.settings)
        if inbox is None or not await asyncio.to_thread(inbox.is_dir):
            return
        try:
            imported = await self.voicemail.import_fallback(inbox)
        except Exception:
            log.exception("voicemail.import_failed", inbox=str(inbox))
            return
        if imported and self.calls is not None:
            # Each message to its call now, not at the next resync (weeks away, maybe).
            await self.calls.check_record()

    async def _import_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.voicemail.import_interval)
            await self._import_fallback_voicemail()

    def warn_missing_years(self, fixed: datetime | None) -> None:
        """Loudly: a year (this one or the next) without its official schedule."""
        now = (fixed or datetime.now(CHINA)).astimezone(CHINA)
        for year in self.live.current().calendar.missing_years([now.year, now.year + 1]):
            log.warning("calendar.official_schedule_missing", year=year,
                        fallback="Monday-Friday working; 1 Jan, 1-2 May, 1-3 Oct closed",
                        fix=f"add years.{year} to config/calendar.yaml")

    async def _build_queue_sounds(self) -> None:
        try:
            built = await asyncio.to_thread(build_queue_sounds, self.settings)
        except (PromptError, OSError) as exc:
            log.error("prompts.queue_announcements_unavailable", error=str(exc))
            return
        if built:
            log.info("prompts.queue_announcements_built", count=len(built))

    async def _build_prompts(self, plans: Iterable[Dialplan]) -> None:
        for plan in list(plans):
            store = self.prompts.for_dialplan(plan.name)
            try:
                built = await asyncio.to_thread(store.build, prompts_of(plan), plan.language)
            except PromptError as exc:
                log.error("prompts.unavailable", dialplan=plan.name, error=str(exc))
                continue
            if built:
                log.info("prompts.built", dialplan=plan.name, count=len(built),
                         folder=str(store.host_dir))

    def request_reload(self) -> None:
        """Reload soon (SIGHUP, which `hotline reload` sends): done by the one reloading
        task of the TaskGroup, so a signal never starts a task of its own."""
        self._reload_wanted.set()

    async def reload(self) -> bool:
        """Load routing.yaml, calendar.yaml and the dialplans again; swap them in only if
        all is valid (dialplans and queue_hours checked against the new queues), else
        nothing changes. Calls in progress finish on the configuration they started
        with. Reloads run one at a time (LiveConfiguration's lock)."""
        return await self.live.reload()

    async def _reloads(self) -> None:
        """The one task that reloads: when asked (request_reload) and when the watcher
        sees a dialplan file change (every service.watch_interval; 0: never)."""
        interval = self.settings.service.watch_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._reload_wanted.wait()
            if self._reload_wanted.is_set():
                self._reload_wanted.clear()
            elif self.live.files.changed():
                log.info("dialplan.files_changed")
            else:
                continue
            try:
                await self.reload()
            except Exception:
                # Whatever went wrong, the service goes on (on the snapshot it has).
                log.exception("config.reload_failed")

    async def _prepare_reload(self, old: Configuration, new: Configuration) -> None:
        """Before a new configuration goes live: Asterisk's queues as the new routing.yaml
        wants them (queues.conf of the sandbox rewritten, its queue parameters reloaded:
        members stay), the prompts of the new dialplans built. A new call then never
        meets a queue or a prompt that is not there yet."""
        if new.routing is not None and new.routing != old.routing:
            inst = instance_from(self.settings)
            if self.settings.prompts.host_dir is None and inst.pid() is not None:
                changed = inst.update_generated(asterisk_files(self.settings, new.routing))
                try:
                    await self.gateway.reload_queue_parameters()
                except AmiError as exc:
                    log.error("routing.queue_reload_failed", error=str(exc))
                if SIP_SEATS_FILE in changed:  # a seat's phone added or removed
                    try:
                        await asyncio.to_thread(inst.reload_sip)
                    except SandboxError as exc:
                        log.error("routing.sip_reload_failed", error=str(exc))
            else:
                log.warning("routing.queues_conf_not_written", hint="an Asterisk of its "
                            "own: install `hotline queues --asterisk-conf` as queues.conf, "
                            "then module reload app_queue.so")
        await self._build_prompts(new.dialplans.values())

    def _reloaded(self, old: Configuration, new: Configuration) -> None:
        """Right after the swap: the routing loop's next round follows the new
        routing.yaml at once (its seats, its queues' overflow); a changed calendar says
        again which years lack their official schedule."""
        if self.routing is not None and new.routing != old.routing:
            self.routing.poke()
        if new.calendar != old.calendar:
            self.warn_missing_years(self.settings.service.calendar_time)

    def _on_lifecycle(self, event: LifecycleEvent) -> None:
        if isinstance(event, AsteriskBooted):
            self.fully_booted.set()
            log.info("asterisk.fully_booted", status=event.status, uptime=event.uptime)
        elif isinstance(event, AsteriskShuttingDown):
            self.fully_booted.clear()
            log.warning("asterisk.shutdown", shutdown=event.shutdown, restart=event.restart)

    async def _refresh_lease(self, channel: str, variable: str, value: str) -> None:
        # A short timeout: a refresh that has not landed within the lease is useless.
        await self.gateway.set_channel_variable(channel, variable, value,
                                                timeout=self.settings.agi.lease)

    async def _refresh_leases(self, channels: list[str], variable: str,
                              value: str) -> list[AmiError | None]:
        return await self.gateway.set_channel_variables(channels, variable, value,
                                                        timeout=self.settings.agi.lease)


async def serve(settings: Settings, login_seats: Iterable[str] = ()) -> None:
    """Run the service until SIGINT or SIGTERM (stop within 5 s); SIGHUP reloads the
    configuration. Holds the pid file that `hotline reload` uses; refuses to start
    (service-running) while another service holds it."""
    survive_lost_output()  # a signal stops the service whatever became of its output
    service = Service(settings, login_seats=login_seats)
    loop = asyncio.get_running_loop()
    pid_file = settings.resolve(settings.service.pid_file)
    with PidFile(pid_file):
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _on_signal, service, sig)
        loop.add_signal_handler(signal.SIGHUP, service.request_reload)
        try:
            await service.run()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)


def refuse_if_running(settings: Settings) -> None:
    """Raise service-running if a service holds the pid file now (checked before
    `hotline run --with-sandbox` starts the sandbox, whose Asterisk it stops on exit)."""
    with PidFile(settings.resolve(settings.service.pid_file), write=False):
        pass


class PidFile:
    """The service's pid file, locked (flock) for as long as the service runs.

    The lock is what tells a running service from a stale file: a second service with
    the same pid file (a test beside `make run`) refuses to start instead of taking the
    file over, and a service removes the file on exit only while it still names it."""

    def __init__(self, path: Path, *, write: bool = True) -> None:
        self.path = path
        self.write = write  # False: only check that no other service holds it
        self._fd: int | None = None

    def __enter__(self) -> PidFile:
        if not self.write and not self.path.exists():
            return self  # no pid file: no service
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ServiceRunning(
                f"another hotline service is running with the pid file {self.path} (pid "
                f"{other}); stop it first, or give this one its own service.pid_file") from None
        if self.write:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self.write and self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        os.close(self._fd)  # releases the lock
        self._fd = None


def _on_signal(service: Service, sig: signal.Signals) -> None:
    # Stop first: the log line after it may fail (stderr a pipe whose reader is gone),
    # and the stop must not depend on it.
    service.stop()
    log.info("service.signal", signal=sig.name)


# The default admin's one-time password, when stderr is no terminal (beside the ledger).
ADMIN_PASSWORD_FILE = "admin-one-time-password"


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a new file `path` that only its owner may read (0600; an older one
    is replaced, never followed if a link)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
