"""The service's one live configuration: loaded whole, validated whole, swapped whole.

`current()` is the accessor every part of the service reads (hotline.core.configuration
says why a snapshot and not copies). `reload()` reads routing.yaml, calendar.yaml and the
dialplans again, checks them together (the dialplans and calendar.yaml's queue_hours
against the *new* queues) and swaps the new snapshot in only if all of it is valid: a bad
file leaves the last good snapshot in place, whole. Reloads come from SIGHUP (which
`hotline reload` sends) and from the file watcher; one lock runs them one after the
other, so two never interleave and none sees another's half-done work.

What a change needs outside the snapshot (queues.conf and QueueReload for Asterisk, the
prompts of the dialplans) is the `prepare` hook, awaited before the swap so that a new
call never meets a queue or a prompt that is not there yet; `applied` runs right after
the swap, before anything else can run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from hotline.app.settings import Settings
from hotline.app.wiring import calendar_from, dialplan_files_from, routing_from
from hotline.common.errors import (
    CalendarInvalid,
    ConfigError,
    DialplanInvalid,
    RoutingInvalid,
)
from hotline.core.configuration import Configuration
from hotline.core.ivr.dialplan import Problem
from hotline.features.ivr.registry import DialplanFiles

log = structlog.get_logger("hotline.config")

Hook = Callable[[Configuration, Configuration], Awaitable[None]]
AfterHook = Callable[[Configuration, Configuration], None]


class _Refused(Exception):
    def __init__(self, event: str, errors: list[str]) -> None:
        super().__init__(event)
        self.event = event
        self.errors = errors


class LiveConfiguration:
    def __init__(self, settings: Settings, files: DialplanFiles | None = None) -> None:
        self.settings = settings
        self.files = files or dialplan_files_from(settings)
        self.prepare: Hook | None = None
        self.applied: AfterHook | None = None
        self._current: Configuration | None = None
        self._lock = asyncio.Lock()

    def current(self) -> Configuration:
        if self._current is None:
            raise RuntimeError("the configuration is not loaded yet (load() first)")
        return self._current

    def load(self) -> list[Problem]:
        """The cold start: every file read and checked; any error raises ConfigError (no
        service starts on a bad file). Returns the dialplans' warnings."""
        try:
            config, warnings = self._read(None)
        except _Refused as refused:
            error = {"routing.reload_rejected": RoutingInvalid,
                     "calendar.reload_rejected": CalendarInvalid}.get(
                         refused.event, DialplanInvalid)
            raise error(refused.errors) from None
        self._current = config
        return warnings

    async def reload(self) -> bool:
        """Read and check every file again; swap the new snapshot in only if all is
        valid (True), else log why and keep the current one (False)."""
        async with self._lock:
            old = self.current()
            try:
                # In a thread: the loop keeps answering calls while the files are parsed.
                new, _ = await asyncio.to_thread(self._read, old)
            except _Refused as refused:
                log.error(refused.event, errors=refused.errors)
                return False
            if self.prepare is not None:
                await self.prepare(old, new)
            self._current = new
            if self.applied is not None:
                self.applied(old, new)
            self._log_changes(old, new)
            return True

    def _read(self, old: Configuration | None) -> tuple[Configuration, list[Problem]]:
        settings = self.settings
        try:
            routing = routing_from(settings)
        except ConfigError as exc:
            raise _Refused("routing.reload_rejected", exc.problems) from None
        if old is not None and (routing is None) != (old.routing is None):
            # Routing starting or ending is a restart, not a reload: nothing is applied,
            # rather than dialplans and calendar without the routing they go with.
            path = settings.resolve(settings.routing.path)
            raise _Refused("routing.reload_rejected", [
                f"{path}: routing.yaml {'appeared' if routing else 'disappeared'} since "
                "the start; restart the service to run with"
                f"{'' if routing else 'out'} it (nothing was reloaded)"])
        queues = set(routing.queues) if routing is not None else None
        try:
            calendar = calendar_from(settings, queues)
        except ConfigError as exc:
            raise _Refused("calendar.reload_rejected", exc.problems) from None
        result = self.files.load(queues)
        if result.errors:
            raise _Refused("dialplan.reload_rejected", [str(p) for p in result.errors])
        generation = old.generation + 1 if old is not None else 1
        config = Configuration(result.plans, routing, calendar, generation)
        return config, [p for p in result.problems if p.severity != "error"]

    def _log_changes(self, old: Configuration, new: Configuration) -> None:
        if new.routing != old.routing and new.routing is not None:
            log.info("routing.reloaded", queues=sorted(new.routing.queues),
                     seats=sorted(new.routing.seats))
        if new.calendar != old.calendar:
            log.info("calendar.reloaded", overrides=len(new.calendar.overrides),
                     queue_hours=sorted(new.calendar.queue_hours))
        changed = [name for name, plan in new.dialplans.items()
                   if name not in old.dialplans or old.dialplans[name].version != plan.version]
        log.info("dialplan.reloaded", generation=new.generation, changed=changed,
                 versions=new.versions)
