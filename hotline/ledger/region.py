"""The caller's region from the number (phonenumbers' geocoder, in Chinese):
13955112345 -> 安徽省合肥市 (mobile segment), 02112345678 -> 上海市 (area code)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import geocoder


@lru_cache(maxsize=65536)
def region_of(number: str | None) -> str | None:
    """The province and city of a Chinese number, or None when unknown."""
    if not number or not number.lstrip("+").isdigit():
        return None
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return None
    text: str = geocoder.description_for_number(parsed, "zh")
    if not text:
        return None
    return text.split("、")[0]  # "安徽省合肥市、巢湖市": the first city
