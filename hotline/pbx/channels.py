"""Asterisk's channels as hotline reads them: CoreShowChannel events parsed into the plain
data of hotline.core.calls.live (for the resync of calls after a (re)connect)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from hotline.core.calls.live import ChannelInfo
from hotline.core.calls.tracking import caller_id
from hotline.pbx.ami.message import AmiMessage

# The contexts of the line's own dialplan (config/asterisk/extensions.conf): its entry,
# where hotline's IVR runs, and the fallback without hotline.
LINE_CONTEXTS = ("ivr", "fallback")
# A channel's name is its device and a per-call suffix: Local/1001@seats-00000003;1,
# PJSIP/trunk-cmcc-00000007.
_SUFFIX = re.compile(r"-[0-9a-f]+(;\d+)?$")


def in_async_agi(application: str, data: str) -> bool:
    """Whether a channel runs hotline's IVR: AGI(agi:async)."""
    return application == "AGI" and "agi:async" in data


def channel_device(channel: str) -> str:
    """The device a channel was made for: its name without the per-call suffix."""
    return _SUFFIX.sub("", channel)


def duration(text: str | None) -> timedelta:
    """A CoreShowChannel's Duration (HH:MM:SS): how long the channel has existed."""
    try:
        hours, minutes, seconds = (int(part) for part in (text or "").split(":"))
    except ValueError:
        return timedelta()
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def parse_channel(event: AmiMessage) -> ChannelInfo:
    """One CoreShowChannel event."""
    name = event.get("Channel") or ""
    application = event.get("Application") or ""
    data = event.get("ApplicationData") or ""
    in_queue = application == "Queue"
    context = event.get("Context") or ""
    return ChannelInfo(
        channel=name, uniqueid=event.get("Uniqueid") or "",
        linkedid=event.get("Linkedid") or "", application=application,
        application_data=data, context=context, bridge_id=event.get("BridgeId") or "",
        age=duration(event.get("Duration")),
        caller_number=caller_id(event.get("CallerIDNum")),
        caller_name=caller_id(event.get("CallerIDName")),
        device=channel_device(name), in_ivr=in_async_agi(application, data),
        in_queue=in_queue, queue=(data.split(",")[0] or None) if in_queue else None,
        on_line=context in LINE_CONTEXTS)


def parse_channels(events: Iterable[AmiMessage]) -> list[ChannelInfo]:
    """The events of a CoreShowChannels answer."""
    return [parse_channel(e) for e in events if e.event == "CoreShowChannel"]


def seat_channel(channels: Iterable[ChannelInfo], device: str) -> ChannelInfo | None:
    """The channel of a seat's live call that a leader spies on: the one made for the
    seat's `device` (its queue member interface, Local/8001@seats/n or PJSIP/8001) and in
    a bridge (talking); of a Local pair, its first half (;1), the one bridged with the
    caller (whisper goes to the seat through it; on the ;2 half it would reach the
    caller). None: the seat is on no call."""
    wanted = device.removesuffix("/n")
    for info in channels:
        if info.device != wanted or not info.bridge_id:
            continue
        if wanted.startswith("Local/") and not info.channel.endswith(";1"):
            continue
        return info
    return None
