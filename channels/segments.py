"""SMS segments: how many billed SMS parts a text takes.

Text that fits the GSM 03.38 default alphabet goes as GSM-7: 160 septets in one SMS, 153 per
part once concatenated (the 6-byte UDH takes the rest). Extension characters (``^ { } [ ] ~
\\ | €`` and form feed) cost 2 septets (ESC + char) and are never split across parts.
Anything else forces UCS-2 for the whole message: 70 UTF-16 code units in one SMS, 67 per
part; characters outside the BMP (most emoji) take a surrogate pair, never split.

This is the one GSM-7 table of Switchboard: adapters import it from here, and the agent
desktop (``router/static/agent.js``) mirrors the same rules.
"""

from __future__ import annotations

from typing import Literal

from router.models import Frozen

# GSM 03.38 default alphabet (ESC excluded) and the extension table (2 septets each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["gsm7", "ucs2"]


class SegmentInfo(Frozen):
    """``units`` are septets (GSM-7) or UTF-16 code units (UCS-2); empty text is 0 segments."""

    encoding: Encoding
    segments: int
    units: int


def is_gsm7(text: str) -> bool:
    """True if ``text`` can go as a plain (GSM-7) SMS; else it needs UCS-2 (``unicode``)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _pack(costs: list[int], single: int, part: int) -> int:
    """Parts needed for characters of the given costs, no character split across parts."""
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def segments(text: str) -> SegmentInfo:
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SegmentInfo(
            encoding="gsm7", segments=_pack(costs, GSM7_SINGLE, GSM7_PART), units=sum(costs)
        )
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentInfo(
        encoding="ucs2", segments=_pack(costs, UCS2_SINGLE, UCS2_PART), units=sum(costs)
    )
