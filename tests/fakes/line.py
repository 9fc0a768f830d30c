"""A fake LINE Platform: Messaging API (reply, push, bot info, webhook endpoint and test) and
the data API's message content, on one app.

Auth is LINE's Bearer channel access token with LINE's own 401 bodies. Every reply / push body
is validated by line-bot-sdk's own request models (``ReplyMessageRequest.from_json`` /
``PushMessageRequest.from_json``) plus the limits those models do not check (text length in
UTF-16 units, quick reply labels, https image URLs, unknown keys). Reply tokens are issued by
the fake and are single use; pushes honour ``X-Line-Retry-Key`` (409 with ``sentMessages``
for a key already accepted). The webhook test POSTs a signed ``"events": []`` body, like the
console's Verify button.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from linebot.v3.messaging import PushMessageRequest, ReplyMessageRequest
from pydantic.v1 import ValidationError as SdkValidationError

from tests.fakes.base import FakeProvider

AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
AUTH_MISSING = (
    "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
)
_KEYS = {
    "text": {"type", "text", "quickReply", "quoteToken", "emojis", "sender"},
    "image": {"type", "originalContentUrl", "previewImageUrl", "quickReply", "sender"},
}


def sign(secret: str, body: bytes | str) -> str:
    """``X-Line-Signature``: base64 HMAC-SHA256 of the raw body with the channel secret."""
    raw = body.encode() if isinstance(body, str) else body
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeLine(FakeProvider):
    def __init__(
        self,
        token: str = "line-channel-access-token",
        secret: str = "line-channel-secret",
        *,
        allow_http_webhooks: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.secret = secret
        self.bot_user_id = "U" + "b0" * 16
        self.allow_http_webhooks = allow_http_webhooks
        self.display_name = "Acme Support"
        self.reply_tokens: dict[str, bool] = {}  # token -> still valid
        self.retry_keys: dict[str, list[dict[str, str]]] = {}
        # What users actually received: (via, to, messages)
        self.delivered: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.content: dict[str, tuple[bytes, str]] = {}
        self.webhook_endpoint: str | None = None
        self.webhook_test_status: int | None = None
        self._lose_next = 0
        self._ids = itertools.count(461230966842064897)
        self.app.router.add_get("/v2/bot/info", self._info)
        self.app.router.add_post("/v2/bot/message/reply", self._reply)
        self.app.router.add_post("/v2/bot/message/push", self._push)
        self.app.router.add_put("/v2/bot/channel/webhook/endpoint", self._set_endpoint)
        self.app.router.add_post("/v2/bot/channel/webhook/test", self._test_endpoint)
        self.app.router.add_get("/v2/bot/message/{id}/content", self._content)

    # -- test controls --------------------------------------------------------------------

    def issue_reply_token(self) -> str:
        token = uuid.uuid4().hex
        self.reply_tokens[token] = True
        return token

    def expire(self, token: str) -> None:
        self.reply_tokens[token] = False

    def lose_next_response(self) -> None:
        """Accept the next push but answer 500, as if the response got lost."""
        self._lose_next += 1

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {"message": AUTH_FAILED}
        if status == 403:
            return {"message": "Access to this API is not available for your account"}
        if status == 429:
            return {"message": "The API rate limit has been exceeded. Try again later."}
        if status >= 500:
            return {"message": "An unexpected error occurred on the LINE Platform"}
        return {"message": f"HTTP {status}"}

    # -- helpers --------------------------------------------------------------------------

    def _auth_error(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return web.json_response({"message": AUTH_MISSING}, status=401)
        if header != f"Bearer {self.token}":
            return web.json_response({"message": AUTH_FAILED}, status=401)
        return None

    @staticmethod
    def _bad(message: str, *details: tuple[str, str]) -> web.Response:
        body: dict[str, Any] = {"message": message}
        if details:
            body["details"] = [{"message": m, "property": p} for p, m in details]
        return web.json_response(body, status=400)

    def _check_messages(self, messages: list[dict[str, Any]]) -> web.Response | None:
        for i, msg in enumerate(messages):
            where = f"messages[{i}]"
            extra = set(msg) - _KEYS.get(msg["type"], set())
            if extra:
                return self._bad("The request body has 1 error(s)", (where, f"unknown {extra}"))
            if msg["type"] == "text" and not 0 < _utf16_len(msg["text"]) <= 5000:
                return self._bad(
                    "The request body has 1 error(s)",
                    (f"{where}.text", "Length must be between 1 and 5000"),
                )
            if msg["type"] == "image":
                for key in ("originalContentUrl", "previewImageUrl"):
                    url = msg[key]
                    if not url.startswith("https://") or len(url) > 2000:
                        return self._bad(
                            "The request body has 1 error(s)",
                            (f"{where}.{key}", "must be a valid HTTPS URL"),
                        )
            for j, item in enumerate((msg.get("quickReply") or {}).get("items", [])):
                label = item["action"].get("label") or ""
                if not 0 < len(label) <= 20:
                    return self._bad(
                        "The request body has 1 error(s)",
                        (f"{where}.quickReply.items[{j}].action.label", "Length must be 1-20"),
                    )
        return None

    async def _validated(
        self, request: web.Request, model: type[ReplyMessageRequest] | type[PushMessageRequest]
    ) -> dict[str, Any] | web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        if request.content_type != "application/json":
            return self._bad("The request body has 1 error(s)", ("", "must be application/json"))
        raw = (await request.read()).decode()
        try:
            model.from_json(raw)  # line-bot-sdk's own validation of the request
            body: dict[str, Any] = json.loads(raw)
        except (SdkValidationError, ValueError, TypeError) as exc:
            return self._bad("The request body has 1 error(s)", ("", str(exc)[:300]))
        return self._check_messages(body["messages"]) or body

    def _sent(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [{"id": str(next(self._ids)), "quoteToken": uuid.uuid4().hex} for _ in messages]

    # -- endpoints ------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        return web.json_response(
            {
                "userId": self.bot_user_id,
                "basicId": "@216rukdx",
                "displayName": self.display_name,
                "pictureUrl": "https://profile.line-scdn.net/abc",
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    async def _reply(self, request: web.Request) -> web.Response:
        body = await self._validated(request, ReplyMessageRequest)
        if isinstance(body, web.Response):
            return body
        if "X-Line-Retry-Key" in request.headers:
            return self._bad("The retry key is not supported for this API")
        token = body["replyToken"]
        if not self.reply_tokens.get(token):
            return self._bad("Invalid reply token")
        self.reply_tokens[token] = False  # single use
        self.delivered.append(("reply", token, body["messages"]))
        return web.json_response({"sentMessages": self._sent(body["messages"])})

    async def _push(self, request: web.Request) -> web.Response:
        body = await self._validated(request, PushMessageRequest)
        if isinstance(body, web.Response):
            return body
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return self._bad("The retry key must be a UUID")
            if key in self.retry_keys:
                return web.json_response(
                    {
                        "message": "The retry key is already accepted",
                        "sentMessages": self.retry_keys[key],
                    },
                    status=409,
                )
        sent = self._sent(body["messages"])
        if key is not None:
            self.retry_keys[key] = sent
        self.delivered.append(("push", body["to"], body["messages"]))
        if self._lose_next:
            self._lose_next -= 1
            return web.json_response(self.error_body(500), status=500)
        return web.json_response({"sentMessages": sent})

    async def _set_endpoint(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        try:
            endpoint = (await request.json())["endpoint"]
        except (ValueError, KeyError, TypeError):
            return self._bad("The request body has 1 error(s)", ("endpoint", "must be specified"))
        schemes = ("https://", "http://") if self.allow_http_webhooks else ("https://",)
        if not isinstance(endpoint, str) or not endpoint.startswith(schemes) or len(endpoint) > 500:
            return self._bad("Invalid webhook endpoint URL", ("endpoint", "must be an HTTPS URL"))
        self.webhook_endpoint = endpoint
        return web.json_response({})

    async def _test_endpoint(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        data = await request.json() if request.can_read_body else {}
        endpoint = data.get("endpoint") or self.webhook_endpoint
        if not endpoint:
            return self._bad("Webhook endpoint URL is not set")
        body = json.dumps({"destination": self.bot_user_id, "events": []}).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Line-Signature": sign(self.secret, body),
        }
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
                http.post(endpoint, data=body, headers=headers) as resp,
            ):
                status = resp.status
        except aiohttp.ClientError as exc:
            return web.json_response(
                {
                    "success": False,
                    "timestamp": now,
                    "statusCode": 0,
                    "reason": "COULD_NOT_CONNECT",
                    "detail": str(exc),
                }
            )
        self.webhook_test_status = status
        ok = status == 200
        return web.json_response(
            {
                "success": ok,
                "timestamp": now,
                "statusCode": status,
                "reason": "OK" if ok else "ERROR_STATUS_CODE",
                "detail": str(status),
            }
        )

    async def _content(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        found = self.content.get(request.match_info["id"])
        if found is None:
            return web.json_response({"message": "Not found"}, status=404)
        return web.Response(body=found[0], content_type=found[1])
