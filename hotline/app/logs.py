"""structlog set-up: a console renderer on a TTY, JSON lines otherwise."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Literal, TextIO, cast

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


def configure_logging(fmt: Literal["auto", "console", "json"] = "auto",
                      level: str = "info") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            *([] if use_console else [structlog.processors.format_exc_info]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard logging module (panoramisk) go to the same place.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


class _Unbroken:
    """stdout or stderr that outlives its reader: once a write fails (the pipe's reader
    gone: `make run 2>&1 | tee run.log` and Ctrl-C kills tee first), the stream's file
    descriptor is pointed at /dev/null and every later write quietly succeeds. The
    service must stop on its signal, and take its Asterisk down, whatever became of its
    output; a log line it cannot write is lost, not a reason to keep running."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            self._lost()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._lost()

    def _lost(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        # What the stream still buffers goes to /dev/null now, not again to the pipe.
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def survive_lost_output() -> None:
    """For the long-running service: stdout and stderr become _Unbroken, and the logs
    (structlog, the logging module) write through them. Tools keep the plain streams, so
    `hotline ledger list | head` still ends at its reader's end."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Unbroken):
            setattr(sys, name, _Unbroken(stream))
    # The service's loggers are built once, not again for every line (the lazy proxy
    # rebuilt its bound logger at each call, a debug line filtered out too: 8 us each).
    # Only here: in-process tools and tests keep structlog's default, which
    # structlog.testing.capture_logs needs.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(
        file=cast(TextIO, sys.stderr)), cache_logger_on_first_use=True)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler.stream, _Unbroken):
            handler.setStream(cast(TextIO, _Unbroken(handler.stream)))
