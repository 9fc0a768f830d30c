"""Signed, expiring links to attachments, served by Switchboard (``GET /l/{token}``).

When an attachment cannot go as MMS, the SMS carries a short Switchboard link instead of the
attachment's own URL: the link names the URL and an expiry, signed with the system's shared
secret, so nobody can make Switchboard redirect elsewhere and an old link stops working.

Token: ``base64url(JSON {"u": url, "e": expiry epoch seconds})`` + ``.`` + ``base64url(first
16 bytes of HMAC-SHA256(secret, "link\\n" + first part))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

PREFIX = "/l/"


class LinkForged(ValueError):
    """The token was not signed with our secret (or was altered)."""


class LinkExpired(ValueError):
    """The token is genuine but past its expiry."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sig(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, b"link\n" + body.encode(), hashlib.sha256).digest()[:16])


def signed_link(secret: bytes, url: str, expires_at: datetime) -> str:
    """The path (``/l/{token}``) that redirects to ``url`` until ``expires_at`` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = json.dumps({"u": url, "e": int(expires_at.timestamp())}, separators=(",", ":"))
    body = _b64(payload.encode())
    return f"{PREFIX}{body}.{_sig(secret, body)}"


def open_link(secret: bytes, token: str, now: datetime) -> str:
    """The URL a token points to; ``LinkForged`` or ``LinkExpired`` otherwise."""
    body, _, sig = token.partition(".")
    if not body or not sig or not hmac.compare_digest(_sig(secret, body), sig):
        raise LinkForged("invalid link")
    try:
        data = json.loads(_unb64(body))
        url, expiry = str(data["u"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        raise LinkForged("invalid link") from None
    if now.timestamp() >= expiry:
        raise LinkExpired("this link has expired")
    return url
