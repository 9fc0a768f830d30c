"""A fake Viber REST Bot API (``/pa/send_message``, ``/pa/get_account_info``,
``/pa/set_webhook``).

Like Viber, it authenticates by the ``X-Viber-Auth-Token`` header only and reports errors with
HTTP 200 and a non-zero ``status`` (2 invalid / missing token, 3 bad data, 6 receiver not
subscribed, ...). ``send_message`` bodies are checked field by field (types, limits, known
keys) and by viberbot's own message classes (``get_message(...).validate()``). ``set_webhook``
POSTs the signed ``{"event": "webhook"}`` check callback to the URL first and succeeds only on
HTTP 200. Message tokens are 64-bit integers beyond float precision.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import aiohttp
from aiohttp import web
from viberbot.api.messages import get_message

from tests.fakes.base import FakeProvider

TYPES = (
    "text",
    "picture",
    "video",
    "file",
    "location",
    "contact",
    "sticker",
    "url",
    "rich_media",
    "keyboard",
)
KEYS = {
    "receiver",
    "min_api_version",
    "sender",
    "tracking_data",
    "type",
    "text",
    "media",
    "thumbnail",
    "size",
    "file_name",
    "duration",
    "keyboard",
    "sticker_id",
    "location",
    "contact",
    "rich_media",
    "alt_text",
    "chat_id",
}
EVENT_TYPES = {"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}
MAX_BODY = 30 * 1024
ACTION_TYPES = ("reply", "open-url", "share-phone", "location-picker", "none")


def sign(token: str, body: bytes) -> str:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the raw body with the auth token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _content_problem(body: dict[str, Any]) -> str | None:
    kind, text = body.get("type"), body.get("text")
    if kind not in TYPES:
        return f"unknown type {kind!r}"
    if kind == "text" and not (isinstance(text, str) and 0 < len(text) <= 7000):
        return "text is required (max 7000 characters)"
    if kind == "picture":
        media = body.get("media")
        if not isinstance(media, str) or not media.startswith("https://"):
            return "picture media must be an https URL"
        if not isinstance(text, str) or len(text) > 768:
            return "picture text is required (max 768 characters)"
    return None


def _keyboard_problem(keyboard: Any) -> str | None:
    if keyboard is None:
        return None
    buttons = keyboard.get("Buttons") if isinstance(keyboard, dict) else None
    if not isinstance(buttons, list) or not buttons or keyboard.get("Type") != "keyboard":
        return "keyboard needs Type keyboard and Buttons"
    for b in buttons:
        if b.get("ActionType") not in ACTION_TYPES or not isinstance(b.get("ActionBody"), str):
            return "keyboard button needs ActionType and ActionBody"
        if not 0 < len(str(b.get("Text", ""))) <= 250:
            return "keyboard button Text is required (max 250 characters)"
    return None


def status(code: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"status": code, "status_message": message, **extra})


class FakeViber(FakeProvider):
    def __init__(
        self,
        token: str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9",
        *,
        allow_http_webhooks: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.allow_http_webhooks = allow_http_webhooks
        self.name = "Acme Support"
        self.webhook: str | None = None
        self.webhook_check_status: int | None = None
        self.unsubscribed: set[str] = set()
        self.sent: list[dict[str, Any]] = []  # accepted send_message bodies
        self._tokens = itertools.count(5741311803571721087)
        self.app.router.add_post("/pa/send_message", self._send_message)
        self.app.router.add_post("/pa/get_account_info", self._account_info)
        self.app.router.add_post("/pa/set_webhook", self._set_webhook)

    def error_body(self, status: int) -> Any:
        if status in (401, 403):
            return {"status": 2, "status_message": "invalidAuthToken"}
        if status == 429:
            return {"status": 12, "status_message": "Too many requests"}
        return {"status_message": "Internal server error"}

    async def _authorized(self, request: web.Request) -> dict[str, Any] | web.Response:
        given = request.headers.get("X-Viber-Auth-Token")
        if not given:
            return status(2, "missing_auth_token")
        if given != self.token:
            return status(2, "invalidAuthToken")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return status(3, "badData: request is larger than 30KB")
        try:
            body = json.loads(raw)
        except ValueError:
            return status(3, "badData: malformed JSON")
        if not isinstance(body, dict):
            return status(3, "badData: JSON object expected")
        return body

    @staticmethod
    def _problem(body: dict[str, Any]) -> str | None:
        """What real Viber would reject in a send_message body (None if nothing)."""
        if set(body) - KEYS:
            return f"unknown fields {sorted(set(body) - KEYS)}"
        if not isinstance(body.get("receiver"), str) or not body["receiver"]:
            return "receiver is required"
        name = (body.get("sender") or {}).get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 28:
            return "sender.name is required (max 28 characters)"
        version = body.get("min_api_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            return "min_api_version must be a positive integer"
        problem = _content_problem(body) or _keyboard_problem(body.get("keyboard"))
        if problem is None and not get_message(body).validate():  # viberbot's own check
            return "viberbot: invalid message"
        return problem

    async def _send_message(self, request: web.Request) -> web.Response:
        body = await self._authorized(request)
        if isinstance(body, web.Response):
            return body
        problem = self._problem(body)
        if problem:
            return status(3, f"badData: {problem}")
        if body["receiver"] in self.unsubscribed:
            return status(6, "receiverNotSubscribed")
        self.sent.append(body)
        return status(
            0, "ok", message_token=next(self._tokens), chat_hostname="SN-CHAT-05_", billing_status=1
        )

    async def _account_info(self, request: web.Request) -> web.Response:
        body = await self._authorized(request)
        if isinstance(body, web.Response):
            return body
        return status(
            0,
            "ok",
            id="pa:75346594275468546724",
            name=self.name,
            uri="acmesupport",
            icon="https://example.com/icon.jpg",
            category="Companies",
            subcategory="Retail",
            country="UK",
            webhook=self.webhook or "",
            event_types=sorted(EVENT_TYPES),
            subscribers_count=35,
            members=[],
        )

    async def _set_webhook(self, request: web.Request) -> web.Response:
        body = await self._authorized(request)
        if isinstance(body, web.Response):
            return body
        url, events = body.get("url"), body.get("event_types", [])
        if not isinstance(url, str):
            return status(4, "missingData: url")
        if not isinstance(events, list) or not set(events) <= EVENT_TYPES:
            return status(3, "badData: event_types")
        if url == "":
            self.webhook = None
            return status(0, "ok")
        schemes = ("https://", "http://") if self.allow_http_webhooks else ("https://",)
        if not url.startswith(schemes):
            return status(1, "invalidUrl")
        check = json.dumps(
            {
                "event": "webhook",
                "timestamp": int(time.time() * 1000),
                "chat_hostname": "SN-376_",
                "message_token": next(self._tokens),
            }
        )
        raw = check.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Viber-Content-Signature": sign(self.token, raw),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.post(url, data=raw, headers=headers) as resp,
            ):
                self.webhook_check_status = resp.status
        except aiohttp.ClientError as exc:
            return status(1, f"Result[HttpRequest[POST {url}] error: {type(exc).__name__}]")
        if resp.status != 200:
            return status(1, f"Result[HttpRequest[POST {url}], HttpResponse[{resp.status}]]")
        self.webhook = url
        return status(0, "ok", chat_hostname="SN-platform1-ap", event_types=events)
