"""Inteliquent's wire formats: telephone numbers, error bodies and typed errors.

Numbers: the Message Broker speaks 11-digit NANP TNs with the leading ``1`` and no ``+``
(``"12015550123"``); the Services API speaks 10-digit TNs (``tnMask``). Switchboard keeps
our numbers as 10 digits and remote parties in E.164 (``"+13125550199"``).
"""

from __future__ import annotations

import re
from typing import Any

from channels.errors import ChannelAuthError, ChannelError, PermanentSendError

_NON_DIGITS = re.compile(r"\D")
# The Services API's "No Result Found" (spec: statusCode "430").
NO_RESULT = "430"


def digits(value: str | int) -> str:
    return _NON_DIGITS.sub("", str(value))


def iq_tn(number: str) -> str:
    """``number`` (10 digits, or E.164 +1…) as the Message Broker's 11-digit TN."""
    tn = digits(number)
    if len(tn) == 10:
        tn = "1" + tn
    if len(tn) != 11 or not tn.startswith("1"):
        raise PermanentSendError(
            f"{number!r} is not a +1 (NANP) number; Inteliquent sends to +1 numbers only"
        )
    return tn


def e164(value: str | int) -> str:
    """A number as received (str or int, 10 or 11 digits, with or without ``+``) in E.164.

    A short code (fewer than 10 digits) stays as its digits.
    """
    raw = str(value).strip()
    tn = digits(raw)
    if raw.startswith("+"):
        return "+" + tn
    if len(tn) == 10:
        return "+1" + tn
    if len(tn) == 11 and tn.startswith("1"):
        return "+" + tn
    return "+" + tn if len(tn) > 11 else tn


def ten_digits(value: str | int) -> str | None:
    """Our 10-digit form of a +1 number, or None when it is not one."""
    tn = digits(value)
    if len(tn) == 11 and tn.startswith("1"):
        tn = tn[1:]
    return tn if len(tn) == 10 else None


def describe(body: Any) -> str | None:
    """The provider's own words from any of its error bodies.

    Message Broker: ``{"success": false, "reason", "detail"}``; Services API:
    ``{"statusCode", "status"}`` or, for refused Basic credentials,
    ``{"message", "status": "Invalid credentials", "statusCode": "401001"}``.
    """
    if not isinstance(body, dict):
        return None
    reason, detail = body.get("reason"), body.get("detail")
    if reason or detail:
        parts = [str(p) for p in (reason, detail) if p]
        return ": ".join(dict.fromkeys(parts))
    status, message, code = body.get("status"), body.get("message"), body.get("statusCode")
    if status or message:
        text = ": ".join(str(p) for p in (status, message) if p)
        return f"{text} ({code})" if code else text
    return None


def is_no_result(exc: ChannelError) -> bool:
    return str(exc).endswith(f"({NO_RESULT})")


class InteliquentError(PermanentSendError):
    """The Message Broker answered ``success: false``."""

    def __init__(self, operation: str, reason: str, detail: str) -> None:
        words = ": ".join(dict.fromkeys(p for p in (reason, detail) if p)) or "refused"
        super().__init__(f"{operation}: {words}")
        self.reason = reason
        self.detail = detail


def broker_refusal(operation: str, answer: dict[str, Any]) -> ChannelError:
    """The typed error for a ``success: false`` answer."""
    reason, detail = str(answer.get("reason") or ""), str(answer.get("detail") or "")
    if "AUTH" in reason.upper() or "API KEY" in detail.upper():
        return ChannelAuthError(f"{operation}: {describe(answer) or 'unauthorized'}")
    return InteliquentError(operation, reason, detail)


def items(value: Any, key: str) -> list[dict[str, Any]]:
    """``{key: [...]}`` or ``{key: {...}}`` (the spec shows both) as a list of objects."""
    inner = value.get(key) if isinstance(value, dict) else None
    if isinstance(inner, dict):
        inner = [inner]
    return [i for i in inner if isinstance(i, dict)] if isinstance(inner, list) else []
