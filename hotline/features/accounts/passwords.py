"""Passwords hashed with Argon2id (argon2-cffi), off the event loop, and the one-time
passwords an admin hands out. The service's event loop also serves calls: a hash (about
0.1-0.2 s of CPU and 64 MiB) runs in a thread, at most two at once."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# No 0/O, 1/l/I: a one-time password is read off a screen and typed.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def one_time_password() -> str:
    """16 random characters in four groups (about 92 bits), e.g. 7kQm-3xTa-Pw9d-Hn4s."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None, concurrency: int = 2) -> None:
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's second choice
        self._slots = asyncio.Semaphore(concurrency)
        # Verified against when the user does not exist, so that an unknown name takes
        # as long as a wrong password (no telling which names exist by the time).
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_hex(16))
            stored = self._dummy
            await self._check(stored, password)
            return False
        return await self._check(stored, password)

    async def _check(self, stored: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify_sync, stored, password)

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
