"""The hotline service: one TaskGroup owns every long-lived task; SIGINT/SIGTERM end it.

While connected it keeps Asterisk's `HOTLINE_HEARTBEAT` global fresh. The dialplan entry
of 12366 reads it: a call that arrives while the heartbeat is stale (hotline down or cut
off from AMI) goes straight to the centre's queue and voicemail instead of waiting for a
hotline that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import structlog

from hotline.app.calls import CallHandling
from hotline.app.settings import Settings
from hotline.app.wiring import gateway_from, ledger_path, prompts_from
from hotline.ivr.prompts import BUILTIN, PromptError
from hotline.ledger.store import Ledger
from hotline.pbx.ami.message import AmiMessage
from hotline.pbx.gateway import AmiError, AmiGateway, EventGap

log = structlog.get_logger("hotline.service")

HEARTBEAT_INTERVAL = 5.0


class Service:
    def __init__(self, settings: Settings, gateway: AmiGateway | None = None) -> None:
        self.settings = settings
        self.gateway = gateway or gateway_from(settings)
        self.fully_booted = asyncio.Event()
        self.calls: CallHandling | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until stop() (or a signal, see `serve`); raises AmiLoginRefused."""
        prompts = prompts_from(self.settings)
        try:
            built = await asyncio.to_thread(prompts.build, BUILTIN)
            if built:
                log.info("prompts.built", prompts=built, folder=str(prompts.host_dir))
        except PromptError as exc:
            log.error("prompts.unavailable", error=str(exc))
        ledger = await Ledger.open(ledger_path(self.settings))
        # The heartbeat first on every connect: it is what lets callers reach hotline.
        self.gateway.on_connect(self._beat)
        self.calls = CallHandling(self.gateway, ledger, prompts)
        self.calls.attach()
        self.gateway.subscribe("lifecycle", ["FullyBooted", "Shutdown"], self._on_lifecycle)
        log.info("service.starting", ami=self.gateway.address, user=self.gateway.username,
                 ledger=str(ledger.path))
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.gateway.run(), name="ami-gateway"),
                         group.create_task(self._heartbeat(), name="heartbeat"),
                         group.create_task(self.calls.writer.run(), name="ledger-writer")]
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
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.gateway.close()
            await ledger.close()
            log.info("service.stopped")

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


async def serve(settings: Settings) -> None:
    """Run the service until SIGINT or SIGTERM; stop within 5 s."""
    service = Service(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, service, sig)
    try:
        await service.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _on_signal(service: Service, sig: signal.Signals) -> None:
    log.info("service.signal", signal=sig.name)
    service.stop()
