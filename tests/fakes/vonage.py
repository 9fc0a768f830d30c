"""A fake Vonage REST host (``rest.nexmo.com``): ``POST /sms/json`` and
``GET /account/get-balance``.

Like Vonage, ``/sms/json`` takes a form or JSON body, authenticates with ``api_key`` +
``api_secret`` (or ``Authorization: Basic``), and answers HTTP 200 even on failure with a
non-zero ``messages[].status`` and ``error-text`` (2 missing parameter, 3 invalid parameter,
4 bad credentials). Parameters are validated with the SDK's own ``vonage_sms.SmsMessage``;
``to`` must be digits without "+", and - stricter than Vonage, which would garble it - text
outside GSM-7 must come with ``type=unicode``. A long text is answered with one message
(and message-id) per concatenated part, as Vonage does. ``get-balance`` answers 401
``{"error-code":"401","error-code-label":"authentication failed"}`` for bad credentials.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import ValidationError
from vonage_sms import SmsMessage

from channels.segments import GSM7_BASIC, GSM7_EXTENSION
from tests.fakes.base import FakeProvider

MSISDN = re.compile(r"^\d{7,15}$")


def segments(text: str, unicode: bool) -> int:
    """How many SMS parts Vonage bills for ``text`` (153 septets / 67 UTF-16 units a part)."""
    if unicode:
        units = len(text.encode("utf-16-le")) // 2
        return 1 if units <= 70 else math.ceil(units / 67)
    septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return 1 if septets <= 160 else math.ceil(septets / 153)


class FakeVonage(FakeProvider):
    def __init__(self, api_key: str, api_secret: str, balance: float = 10.28) -> None:
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.balance = balance
        self.sms: list[dict[str, str]] = []  # accepted /sms/json requests, as sent
        self.message_ids: list[str] = []  # every message-id answered, in order
        self._ids = itertools.count(0x0A000000123ABCD1)
        self.app.router.add_post("/sms/json", self._sms)
        self.app.router.add_get("/account/get-balance", self._balance)

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {"error-code": "401", "error-code-label": "authentication failed"}
        if status == 429:
            return {"type": "https://developer.nexmo.com/api-errors#throttled",
                    "title": "Throttled", "detail": "Too many requests"}  # fmt: skip
        return {"type": "https://developer.nexmo.com/api-errors#internal-error",
                "title": "Internal Error", "detail": f"Internal Error (HTTP {status})"}  # fmt: skip

    @staticmethod
    def refused(status: str, text: str) -> dict[str, Any]:
        """The 200 answer of a refused submission."""
        return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}

    def _authorized(self, request: web.Request, params: dict[str, str]) -> bool:
        key, secret = params.get("api_key"), params.get("api_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        return key == self.api_key and secret == self.api_secret

    async def _params(self, request: web.Request) -> dict[str, str] | None:
        body = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode(), keep_blank_values=True))
        if request.content_type == "application/json":
            data = json.loads(body)
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
        return None

    async def _sms(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params is None:
            return web.json_response(self.refused("2", "Missing api_key"))
        if not self._authorized(request, params):
            return web.json_response(self.refused("4", "Bad Credentials"))
        for required in ("from", "to", "text"):
            if not params.get(required):
                return web.json_response(self.refused("2", f"Missing {required} param"))
        try:
            SmsMessage(
                to=params["to"], from_=params["from"], text=params["text"],
                type=params.get("type"), client_ref=params.get("client-ref"),
                status_report_req=params.get("status-report-req"),
            )  # fmt: skip
        except ValidationError as exc:
            field = exc.errors()[0]["loc"][0]
            return web.json_response(self.refused("3", f"Invalid {field} param"))
        if not MSISDN.match(params["to"]):
            return web.json_response(self.refused("3", "Invalid to address"))
        text, unicode = params["text"], params.get("type") == "unicode"
        if len(text) > 3200:
            return web.json_response(self.refused("3", "Invalid text: longer than 3200"))
        if not unicode and any(ch not in GSM7_BASIC and ch not in GSM7_EXTENSION for ch in text):
            return web.json_response(self.refused("3", "Invalid text: not GSM-7, use unicode"))
        self.sms.append(params)
        parts = [
            {"to": params["to"], "message-id": f"{next(self._ids):X}", "status": "0",
             "remaining-balance": f"{self.balance:.8f}", "message-price": "0.03330000",
             "network": "23410", **({"client-ref": params["client-ref"]}
                                    if "client-ref" in params else {})}
            for _ in range(segments(text, unicode))
        ]  # fmt: skip
        self.message_ids += [p["message-id"] for p in parts]
        return web.json_response({"message-count": str(len(parts)), "messages": parts})

    async def _balance(self, request: web.Request) -> web.Response:
        if not self._authorized(request, dict(request.query)):
            return web.json_response(self.error_body(401), status=401)
        return web.json_response({"value": self.balance, "autoReload": False})
