"""Asterisk's queues.conf, written from config/routing.yaml (pure: text in, text out).

routing.yaml is the one place queues are described; Asterisk's app_queue needs them in
queues.conf. The embedded sandbox writes this file at every start; for an Asterisk of
its own, `hotline queues --asterisk-conf` prints it for the administrator to install
(then `module reload app_queue.so`).

Every queue gets its strategy, ring timeout per seat, wrap-up time and announcements
(position and expected wait, every 30 s, in Mandarin: hotline's phrases, and numbers
said by Asterisk in the callers' language `zh`, set by the [ivr] entry). Every region
queue (a queue and a city bureau, see `RoutingConfig.region_queues`) gets the same
settings but no announcements. Members are never written here: hotline adds and removes
them over AMI as seats log in and out and overflow moves remote seats in and out.
"""

from __future__ import annotations

from hotline.core.routing.config import SERVICE_LEVEL_SECONDS, QueueDef, RoutingConfig

ANNOUNCE_EVERY = 30  # seconds between position / expected-wait announcements

GENERAL = """\
; Written by hotline from config/routing.yaml: edit that file, not this one.
[general]
persistentmembers = yes
autofill = yes
shared_lastcall = yes
log_membername_as_agent = yes
"""


# app_queue's sound settings -> hotline's Mandarin phrases (hotline.features.ivr.prompts).
SOUNDS = {"queue-youarenext": "youarenext", "queue-thereare": "thereare",
          "queue-callswaiting": "callswaiting", "queue-holdtime": "holdtime",
          "queue-minute": "minute", "queue-minutes": "minutes", "queue-seconds": "seconds",
          "queue-thankyou": "thankyou"}


def render_queues(config: RoutingConfig, phrases: str | None = None) -> str:
    """queues.conf for `config`; `phrases`: the folder (as Asterisk sees it) of the
    Mandarin announcement phrases, used by queues that announce."""
    parts = [GENERAL]
    for queue in config.queues.values():
        text = _queue(queue.id, queue, f"{queue.name}", region=False)
        if phrases and (queue.announce_position or queue.announce_wait):
            base = phrases.rstrip("/")
            text += "".join(f"{key} = {base}/{name}\n" for key, name in SOUNDS.items())
        parts.append(text)
    for name, (queue_id, group_id) in config.region_queues().items():
        queue = config.queues[queue_id]
        parts.append(_queue(name, queue, f"{queue.name}: {config.groups[group_id].name} "
                                         "callers, that bureau's seats first", region=True))
    return "\n".join(parts)


# A region queue takes a caller only when one of its seats can answer now, and lets them
# go on to the queue when its seats leave; a busy local seat is waited for (region_wait).
REGION_JOIN = "paused,penalty,inuse,ringing,unavailable,invalid,unknown,wrapup"
REGION_LEAVE = "paused,unavailable,invalid,unknown"


def _queue(name: str, queue: QueueDef, comment: str, *, region: bool) -> str:
    announce = (queue.announce_position or queue.announce_wait) and not region
    lines = [
        f"; {comment}",
        f"[{name}]",
        f"strategy = {queue.strategy}",
        f"timeout = {queue.ring_timeout}",
        "retry = 1",
        f"wrapuptime = {queue.wrapup}",
        "maxlen = 0",
        # Callers wait in a queue even when no seat is logged in: the wait ends at
        # max_wait, and then routing.yaml's on_no_answer decides (voicemail, callback or
        # goodbye).
        f"joinempty = {REGION_JOIN if region else 'yes'}",
        f"leavewhenempty = {REGION_LEAVE if region else 'no'}",
        "ringinuse = no",
        f"servicelevel = {SERVICE_LEVEL_SECONDS}",
        f"announce-frequency = {ANNOUNCE_EVERY if announce else 0}",
        f"announce-position = {'yes' if queue.announce_position and not region else 'no'}",
        f"announce-holdtime = {'yes' if queue.announce_wait and not region else 'no'}",
        "periodic-announce-frequency = 0",
        "reportholdtime = no",
        # MEMBERINTERFACE and MEMBERNAME on the caller's channel once a seat answers:
        # after Queue returns, hotline reads from the channel who answered.
        "setinterfacevar = yes",
        "",
    ]
    return "\n".join(lines)
