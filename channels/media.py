"""Provider media that only the account's credentials can download (LINE content, Telegram
files, WhatsApp media ids).

An adapter's parse marks such an attachment with ``provider_media_url(media_id)``; the webhook
handler turns it into a signed Switchboard URL (``/media/{account}/{media id}?sig=``) that
fetches the bytes through the account when someone opens it, so no blob is stored and no
provider credential reaches a browser.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

PREFIX = "provider-media:"


def provider_media_url(media_id: str) -> str:
    return PREFIX + media_id


def media_id_of(url: str) -> str | None:
    return url[len(PREFIX) :] if url.startswith(PREFIX) else None


def _sig(secret: bytes, account_id: str, media_id: str) -> str:
    return hmac.new(secret, f"{account_id}\n{media_id}".encode(), hashlib.sha256).hexdigest()[:32]


def signed_media_path(secret: bytes, account_id: str, media_id: str) -> str:
    quoted = quote(media_id, safe="")
    return f"/media/{account_id}/{quoted}?sig={_sig(secret, account_id, media_id)}"


def check_media_sig(secret: bytes, account_id: str, media_id: str, sig: str) -> bool:
    return hmac.compare_digest(_sig(secret, account_id, media_id), sig)
