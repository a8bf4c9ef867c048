"""What a phone number looks like, for every part that checks one: digits with an
optional leading +, at most 20 of them (E.164 allows 15; extensions and prefixes of the
centre's own trunk fit as well). How few digits are enough depends on the use: a number
to dial 3 (110, 12366), a number to call back 5, a prefix 1."""

from __future__ import annotations

import re

MAX_DIGITS = 20
_NUMBER = re.compile(r"\+?([0-9]+)")


def is_phone_number(text: str, min_digits: int = 3) -> bool:
    """`text` is an optional + and `min_digits` to MAX_DIGITS ASCII digits, nothing else."""
    match = _NUMBER.fullmatch(text)
    return match is not None and min_digits <= len(match.group(1)) <= MAX_DIGITS
