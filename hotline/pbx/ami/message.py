"""AMI messages (responses and events) and the framer that cuts a byte stream into them.

AMI is UTF-8 text in frames of `Key: Value` lines ended by an empty line. The framer cuts
the *bytes* at frame boundaries first and decodes only whole frames, so a multi-byte
character (a Chinese caller name) split across two TCP reads is never damaged; this is
what panoramisk 1.4 gets wrong (it decodes every read with errors='ignore').
"""

from __future__ import annotations

from collections.abc import Iterator

EOL = "\r\n"
FRAME_END = b"\r\n\r\n"
GREETING_PREFIX = b"Asterisk Call Manager/"


class AmiMessage:
    """One response or event, kept as its frame text and read lazily.

    The gateway routes on `event` and `action_id`; consumers read a few headers each.
    Looking a header up in the frame text (`\r\nKey: `) costs less than building a dict
    of twenty headers that are mostly never read, which is where the gateway's parse
    throughput comes from. `headers` builds the full mapping on demand.

    A header sent more than once (Output, ChanVariable) keeps every value in order:
    `get_all()`; `get()` returns the first. Lookups are exact, then case-insensitive.
    """

    __slots__ = ("_headers", "_repeated", "event", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._headers: dict[str, str] | None = None
        self._repeated: dict[str, list[str]] | None = None
        if text.startswith("Event: "):
            end = text.find(EOL)
            self.event: str | None = text[7:end] if end >= 0 else text[7:]
        else:
            self.event = None

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.get_exact(key)
        return self._get_slow(key, default) if value is None else value

    def get_exact(self, key: str) -> str | None:
        """The header spelled exactly `key`; never builds the full mapping. The gateway's
        hot path uses it for headers Asterisk always spells one way (ActionID)."""
        text = self.text
        prefix = key + ": "
        if text.startswith(prefix):
            start = len(prefix)
        else:
            found = text.find(EOL + prefix)
            if found < 0:
                return None
            start = found + len(prefix) + 2
        end = text.find(EOL, start)
        return text[start:] if end < 0 else text[start:end]

    def _get_slow(self, key: str, default: str | None) -> str | None:
        # Absent, or spelled differently, or a `Key:` line with no space after the colon.
        lower = key.lower()
        for name, value in self.headers.items():
            if name.lower() == lower:
                return value
        return default

    @property
    def headers(self) -> dict[str, str]:
        """Every header (first value of a repeated one)."""
        if self._headers is None:
            self._headers, self._repeated = _parse_lines(self.text.split(EOL))
        return self._headers

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        # Exact: most events carry no ActionID, and a case-insensitive miss would parse
        # every header of every event.
        return self.get_exact("ActionID")

    @property
    def is_success(self) -> bool:
        return self.get("Response") in ("Success", "Follows", "Goodbye")

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def get_all(self, key: str) -> list[str]:
        headers = self.headers
        lower = key.lower()
        for name in headers:
            if name.lower() == lower:
                if self._repeated is not None and name in self._repeated:
                    return list(self._repeated[name])
                return [headers[name]]
        return []

    def __repr__(self) -> str:
        kind = f"Event={self.event}" if self.event else f"Response={self.response}"
        return f"<AmiMessage {kind}>"


def parse_frame(text: str) -> AmiMessage | None:
    """One frame (without its final empty line); None for a frame with no header."""
    return AmiMessage(text) if ":" in text else None


def _parse_lines(lines: list[str]) -> tuple[dict[str, str], dict[str, list[str]] | None]:
    headers: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for line in lines:
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            # Not a header: old-style command output. Keep it as Output.
            key, value = "Output", line
        elif value.startswith(" "):
            value = value[1:]
        if key in headers:
            repeated.setdefault(key, [headers[key]]).append(value)
        else:
            headers[key] = value
    return headers, repeated or None


# Asterisk's biggest frames are a few kB (a channel's variables, a long Output); 1 MiB
# leaves room for any real one and keeps a frame that never ends from eating the memory.
MAX_FRAME = 1 << 20


class FrameTooLarge(ValueError):
    """A frame (or the greeting) grew past the framer's limit: the peer is broken or
    hostile. The gateway drops the connection and reconnects."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"AMI frame of at least {size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


class AmiFramer:
    """Feed it bytes as they arrive; it yields whole messages.

    The first line Asterisk sends is a greeting (`Asterisk Call Manager/9.0.0`) ended by a
    single CRLF; it is taken apart as `greeting`. Bytes that are not valid UTF-8 become
    U+FFFD and are counted in `decode_errors`, never dropped silently.

    No frame may be longer than `max_frame` bytes, and no more than that is ever buffered
    waiting for a frame's end: past it `feed` raises FrameTooLarge (after yielding the
    whole frames before it), and the framer is of no further use (its connection is to be
    dropped).
    """

    __slots__ = ("_buffer", "decode_errors", "greeting", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = b""
        self.greeting: str | None = None
        self.decode_errors = 0
        self.max_frame = max_frame

    def feed(self, data: bytes) -> Iterator[AmiMessage]:
        # Only the new bytes (and the 3 before them) can hold a frame end not seen yet.
        search_from = max(0, len(self._buffer) - 3)
        buffer = self._buffer + data if self._buffer else data
        if self.greeting is None:
            if len(buffer) < len(GREETING_PREFIX) and GREETING_PREFIX.startswith(buffer):
                self._buffer = buffer
                return
            if buffer.startswith(GREETING_PREFIX):
                end = buffer.find(b"\r\n")
                if end < 0:
                    self._keep(buffer)
                    return
                self.greeting = buffer[:end].decode("utf-8", "replace")
                buffer = buffer[end + 2 :]
                search_from = 0
            else:
                self.greeting = ""
        cut = buffer.rfind(FRAME_END, search_from)
        if cut < 0:
            self._keep(buffer)
            return
        rest = buffer[cut + 4 :]
        self._buffer = rest
        # Frame boundaries are ASCII, so decoding whole frames never splits a character.
        chunk = buffer[:cut]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            text = chunk.decode("utf-8", "replace")
            self.decode_errors += text.count("\ufffd")
        check = len(chunk) > self.max_frame  # else no frame in it can be too long
        for frame in text.split("\r\n\r\n"):
            if check and len(frame.encode("utf-8", "replace")) > self.max_frame:
                self._buffer = b""
                raise FrameTooLarge(len(frame.encode("utf-8", "replace")), self.max_frame)
            frame = frame.strip("\r\n")
            if frame:
                message = parse_frame(frame)
                if message is not None:
                    yield message
        if len(rest) > self.max_frame:
            self._keep(rest)

    def _keep(self, buffer: bytes) -> None:
        if len(buffer) > self.max_frame:
            self._buffer = b""
            raise FrameTooLarge(len(buffer), self.max_frame)
        self._buffer = buffer

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)


def serialize_action(fields: dict[str, str | list[str]]) -> bytes:
    """An action as AMI bytes. A list value is sent as one header line per item.

    Values must not contain CR or LF: that would let text inject headers.
    """
    out = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if "\r" in item or "\n" in item or "\r" in key or "\n" in key:
                raise ValueError(f"AMI header {key!r} contains a line break")
            out.append(f"{key}: {item}")
    out.append("")
    out.append("")
    return EOL.join(out).encode("utf-8")
