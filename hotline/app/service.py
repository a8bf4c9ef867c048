"""The hotline service: one TaskGroup owns every long-lived task; SIGINT/SIGTERM end it.

While connected it keeps Asterisk's `HOTLINE_HEARTBEAT` global fresh. The dialplan entry
of 12366 reads it: a call that arrives while the heartbeat is stale (hotline down or cut
off from AMI) goes straight to the centre's queue and voicemail instead of waiting for a
hotline that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from datetime import datetime

import structlog

from hotline.app.settings import Settings
from hotline.app.wiring import (
    asterisk_files,
    build_queue_sounds,
    calendar_from,
    dialplans_from,
    fallback_inbox_from,
    gateway_from,
    instance_from,
    ledger_path,
    prompts_from,
    routing_from,
    spool_from,
)
from hotline.common.errors import ConfigError, DemoSeatsInvalid, DialplanInvalid
from hotline.core.calendar.schedule import CHINA, Calendar
from hotline.core.ivr.dialplan import Dialplan
from hotline.core.routing.config import RoutingConfig
from hotline.features.board.web import Sources, Wallboard
from hotline.features.calls.handling import CallHandling, utc_now
from hotline.features.ivr.prompts import PromptError, PromptStore, prompts_of
from hotline.features.ivr.registry import DialplanRegistry
from hotline.features.seats.routing_loop import RoutingLoop
from hotline.features.voicemail.service import Voicemail
from hotline.ledger.seats import SeatBook
from hotline.ledger.store import Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiError, AmiGateway, EventGap

log = structlog.get_logger("hotline.service")

HEARTBEAT_INTERVAL = 5.0


class Service:
    def __init__(self, settings: Settings, gateway: AmiGateway | None = None, *,
                 login_seats: Iterable[str] = ()) -> None:
        self.settings = settings
        # Seats to log in at start if they are not (the sandbox's demo seats).
        self.login_seats = tuple(login_seats)
        self.gateway = gateway or gateway_from(settings)
        self.fully_booted = asyncio.Event()
        self.calls: CallHandling | None = None
        self.dialplans: DialplanRegistry
        self.voicemail: Voicemail
        self.prompts: PromptStore
        self.web: Wallboard | None = None  # the wallboard, once run() has started it
        self._stop = asyncio.Event()

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
        routing = routing_from(self.settings)
        self._check_login_seats(routing)
        self.dialplans = dialplans_from(self.settings,
                                        set(routing.queues) if routing is not None else None)
        loaded = self.dialplans.reload()
        if loaded.errors:
            # A bad file stops a cold start (on a reload the last good version stays).
            raise DialplanInvalid([str(p) for p in loaded.errors])
        for problem in loaded.problems:
            log.warning("dialplan.warning", problem=str(problem))
        prompts = prompts_from(self.settings)
        self.prompts = prompts
        await self._build_prompts(self.dialplans.plans.values())
        await self._build_queue_sounds()
        ledger = await Ledger.open(ledger_path(self.settings))
        # The heartbeat first on every connect: it is what lets callers reach hotline.
        self.gateway.on_connect(self._beat)
        fixed = self.settings.service.calendar_time
        self.calendar = calendar_from(self.settings,
                                      set(routing.queues) if routing is not None else None)
        self.warn_missing_years(fixed)
        voicemail = Voicemail(ledger, spool_from(self.settings), self.calendar, utc_now)
        self.voicemail = voicemail
        await voicemail.reconcile()
        await self._import_fallback_voicemail()
        self.calls = CallHandling(self.gateway, ledger, self.dialplans, prompts,
                                  calendar_clock=(lambda: fixed) if fixed else None,
                                  calendar=self.calendar, voicemail=voicemail,
                                  routing=routing)
        self.routing: RoutingLoop | None = None
        if routing is not None:
            await self._login_seats(ledger)
            # self.calendar, not a copy of it: a reload may replace it.
            self.routing = RoutingLoop(
                self.gateway, ledger, routing,
                lambda now: self.calendar.state(fixed or now) == "open", utc_now,
                self.settings.routing.interval,
                queue_open=lambda now: {
                    queue: self.calendar.state(fixed or now, queue) == "open"
                    for queue in self.calendar.queue_hours})
            self.routing.attach()
        if fixed:
            log.warning("service.calendar_time_fixed", calendar_time=fixed.isoformat())
        self.calls.attach()
        self.gateway.subscribe("lifecycle", ["FullyBooted", "Shutdown"], self._on_lifecycle)
        if self.settings.web.enabled:
            self.web = Wallboard(Sources(
                self.gateway, ledger, self.calls.writer, lambda: self.routing,
                lambda: self.calendar, utc_now, lambda: fixed or utc_now()))
        log.info("service.starting", ami=self.gateway.address, user=self.gateway.username,
                 ledger=str(ledger.path))
        try:
            if self.web is not None:
                await self.web.start(self.settings.web.host, self.settings.web.port)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.gateway.run(), name="ami-gateway"),
                         group.create_task(self._heartbeat(), name="heartbeat"),
                         group.create_task(self.calls.writer.run(), name="ledger-writer"),
                         group.create_task(self._watch_dialplans(), name="dialplan-watch"),
                         group.create_task(self._import_loop(), name="voicemail-import")]
                if self.routing is not None:
                    tasks.append(group.create_task(self.routing.run(), name="routing"))
                await self._stop.wait()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(3.0):
                        await self.calls.shutdown()
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

    async def _import_fallback_voicemail(self) -> None:
        inbox = fallback_inbox_from(self.settings)
        if inbox is None or not await asyncio.to_thread(inbox.is_dir):
            return
        try:
            await self.voicemail.import_fallback(inbox)
        except Exception:
            log.exception("voicemail.import_failed", inbox=str(inbox))

    async def _import_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.voicemail.import_interval)
            await self._import_fallback_voicemail()

    def warn_missing_years(self, fixed: datetime | None) -> None:
        """Loudly: a year (this one or the next) without its official schedule."""
        now = (fixed or datetime.now(CHINA)).astimezone(CHINA)
        for year in self.calendar.missing_years([now.year, now.year + 1]):
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

    async def reload(self) -> bool:
        """Load routing.yaml, calendar.yaml and the dialplans again; swap them in only if
        all is valid (dialplans and queue_hours checked against the new queues), else
        nothing changes. Calls in progress finish on the dialplan version they started
        with."""
        try:
            routing = routing_from(self.settings)
        except ConfigError as exc:
            log.error("routing.reload_rejected", errors=exc.problems)
            return False
        assert self.calls is not None
        if (routing is None) != (self.calls.routing is None):
            # Routing starting or ending is a restart, not a reload: nothing is applied,
            # rather than dialplans and calendar without the routing they go with.
            path = self.settings.resolve(self.settings.routing.path)
            log.error("routing.reload_rejected", errors=[
                f"{path}: routing.yaml {'appeared' if routing else 'disappeared'} since "
                "the start; restart the service to run with"
                f"{'' if routing else 'out'} it (nothing was reloaded)"])
            return False
        try:
            calendar = calendar_from(self.settings,
                                     set(routing.queues) if routing is not None else None)
        except ConfigError as exc:
            log.error("calendar.reload_rejected", errors=exc.problems)
            return False
        queues_before = self.dialplans.queues
        if routing is not None:
            self.dialplans.queues = set(routing.queues)
        before = dict(self.dialplans.plans)
        result = self.dialplans.reload()
        if result.errors:
            self.dialplans.queues = queues_before
            log.error("dialplan.reload_rejected", errors=[str(p) for p in result.errors])
            return False
        await self._use_routing(routing)
        self._use_calendar(calendar)
        changed = [name for name, plan in self.dialplans.plans.items()
                   if before.get(name) is None or before[name].version != plan.version]
        await self._build_prompts(self.dialplans.plans.values())
        log.info("dialplan.reloaded", generation=self.dialplans.generation,
                 changed=changed, versions={n: p.version for n, p in
                                            self.dialplans.plans.items()})
        return True

    def _use_calendar(self, calendar: Calendar) -> None:
        """A changed calendar.yaml (a typhoon closure, longer hours in the filing season):
        new calls, deadlines and the coverage guard follow it from now on."""
        assert self.calls is not None
        if calendar == self.calendar:
            return
        self.calendar = calendar
        self.calls.use_calendar(calendar)
        self.voicemail.calendar = calendar
        self.warn_missing_years(self.settings.service.calendar_time)
        log.info("calendar.reloaded", overrides=len(calendar.overrides),
                 queue_hours=sorted(calendar.queue_hours))

    async def _use_routing(self, routing: RoutingConfig | None) -> None:
        """A valid routing.yaml that changed: the queues in Asterisk (queues.conf of the
        sandbox rewritten, QueueReload of its parameters: members stay), then the routing
        loop and the call handling."""
        assert self.calls is not None
        if routing == self.calls.routing or routing is None or self.routing is None:
            return  # unchanged, or no routing before nor now (reload() refuses the rest)
        inst = instance_from(self.settings)
        if self.settings.prompts.host_dir is None and inst.pid() is not None:
            inst.update_generated(asterisk_files(self.settings, routing))
            await self.gateway.send({"Action": "QueueReload", "Parameters": "yes"})
        else:
            log.warning("routing.queues_conf_not_written", hint="an Asterisk of its own: "
                        "install `hotline queues --asterisk-conf` as queues.conf, then "
                        "module reload app_queue.so")
        self.routing.use(routing)
        self.calls.use_routing(routing)
        log.info("routing.reloaded", queues=sorted(routing.queues),
                 seats=sorted(routing.seats))

    async def _watch_dialplans(self) -> None:
        interval = self.settings.service.watch_interval
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            if self.dialplans.changed():
                log.info("dialplan.files_changed")
                await self.reload()

    async def _on_lifecycle(self, event: AmiMessage | EventGap) -> None:
        if isinstance(event, EventGap):
            return
        if event.event == "FullyBooted":
            self.fully_booted.set()
            log.info("asterisk.fully_booted", status=event.get("Status"),
                     uptime=event.get("Uptime"))
        elif event.event == "Shutdown":
            self.fully_booted.clear()
            log.warning("asterisk.shutdown", shutdown=event.get("Shutdown"),
                        restart=event.get("Restart"))

    async def _beat(self) -> None:
        await self.gateway.send({"Action": "Setvar", "Variable": "HOTLINE_HEARTBEAT",
                                 "Value": str(int(time.time()))}, timeout=5.0)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            if not self.gateway.connected.is_set():
                continue
            try:
                await self._beat()
            except AmiError as exc:
                log.warning("service.heartbeat_failed", error=str(exc))


async def serve(settings: Settings, login_seats: Iterable[str] = ()) -> None:
    """Run the service until SIGINT or SIGTERM (stop within 5 s); SIGHUP reloads the
    dialplans. Writes the pid file that `hotline reload` uses."""
    service = Service(settings, login_seats=login_seats)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, service, sig)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(service.reload()))
    pid_file = settings.resolve(settings.service.pid_file)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        await service.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()


def _on_signal(service: Service, sig: signal.Signals) -> None:
    log.info("service.signal", signal=sig.name)
    service.stop()
