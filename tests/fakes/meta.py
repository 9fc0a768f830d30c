"""A fake Meta Graph API serving a Facebook Page (Messenger Send API) and a WhatsApp Cloud API
business phone number.

Endpoints: ``POST /{ver}/me/messages`` (and ``/{ver}/{page_id}/messages``), ``GET /{ver}/me``,
``POST /{ver}/{phone_number_id}/messages``, ``GET /{ver}/{phone_number_id}``, ``POST
/{ver}/{phone_number_id}`` (``webhook_configuration`` callback override: the fake performs
Meta's GET ``hub.challenge`` verification against the URL, as Meta does), ``GET /{ver}/{media_id}``
(-> ``{"url": ...}``) and ``GET /download/{media_id}`` (the lookaside download).

Like Graph it takes the token as ``Authorization: Bearer`` or ``access_token`` (the download only
as Bearer), checks ``appsecret_proof`` (required when ``require_proof``, the "Require App Secret"
app setting; when present it must be right), answers in Graph's error shape
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`` (190 for a bad token),
and validates bodies strictly (Send API: recipient, messaging_type, exactly one of text /
attachment, text <= 2000, <= 13 quick replies with titles <= 20; Cloud API: messaging_product,
``to`` a wa_id / ``recipient`` a BSUID per pywa's own ``RecipientType``, text <= 4096, media by
link xor id, reply buttons 1..3 with titles <= 20, list rows <= 10 with titles <= 24).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from pywa.types.sent_update import RecipientType
from pywa.utils import webhook_updates_validator

from tests.fakes.base import FakeProvider

VERSION = re.compile(r"^v\d+\.\d+$")
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
FB_ATTACHMENT_TYPES = ("image", "audio", "video", "file", "template")
WA_TYPES = ("text", "image", "video", "audio", "document", "sticker", "interactive", "location")
WA_MEDIA = ("image", "video", "audio", "document", "sticker")
OUTSIDE_WINDOW_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer last "
    "replied to this number."
)


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        kind: str = "OAuthException",
        subcode: int | None = None,
        details: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = graph_error(code, message, kind=kind, subcode=subcode, details=details)
        self.headers = headers or {}


def graph_error(
    code: int,
    message: str,
    *,
    kind: str = "OAuthException",
    subcode: int | None = None,
    details: str | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if details is not None:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    err["fbtrace_id"] = "A" + secrets.token_hex(10)
    return {"error": err}


def bad_param(message: str, details: str | None = None) -> GraphError:
    return GraphError(400, 100, message, details=details)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise bad_param(f"(#100) {message}")


@dataclass
class Media:
    content: bytes
    mime_type: str
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.content).hexdigest()


class FakeGraph(FakeProvider):
    def __init__(
        self,
        *,
        product: str = "messenger",
        app_secret: str = "fb-app-secret",
        page_id: str = "107000000000001",
        page_name: str = "Acme Support",
        page_token: str = "EAAPAGE-token",
        phone_number_id: str = "106540352242922",
        display_phone_number: str = "15550783881",
        verified_name: str = "Acme",
        wa_token: str = "EAAWA-system-user-token",
        require_proof: bool = True,
    ) -> None:
        super().__init__()
        assert product in ("messenger", "whatsapp")
        self.product = product
        self.app_secret = app_secret
        self.page_id, self.page_name, self.page_token = page_id, page_name, page_token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.verified_name = verified_name
        self.wa_token = wa_token
        self.require_proof = require_proof
        self.media: dict[str, Media] = {}
        self.outside_window: set[str] = set()  # recipients whose 24 h window is closed
        self.sent: list[dict[str, Any]] = []  # accepted message bodies, in order
        self.answered: list[str] = []  # the message ids returned for them
        self.callback: dict[str, str] | None = None
        self._ids = itertools.count(1)
        self.app.router.add_get("/download/{media_id}", self._download)
        self.app.router.add_route("*", "/{version}/{node}/messages", self._messages)
        self.app.router.add_route("*", "/{version}/{node}", self._node)

    # -- errors ---------------------------------------------------------------------------------

    def error_body(self, status: int) -> Any:
        wa = self.product == "whatsapp"
        if status == 401:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        if status == 403:
            return graph_error(200, "(#200) Permissions error")
        if status == 429 and wa:
            return graph_error(
                130429,
                "(#130429) Rate limit hit",
                details="Cloud API message throughput has been reached.",
            )
        if status == 429:
            return graph_error(613, "(#613) Calls to this api have exceeded the rate limit.")
        if status >= 500 and wa:
            return graph_error(131000, "Something went wrong", details="Something went wrong")
        if status >= 500:
            body = graph_error(
                2, "An unexpected error has occurred. Please retry your request later."
            )
            body["error"]["is_transient"] = True
            return body
        return graph_error(100, "(#100) Invalid parameter", kind="GraphMethodException")

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = Media(content, mime_type)

    # -- auth -----------------------------------------------------------------------------------

    @staticmethod
    def _token_of(request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        return request.query.get("access_token")

    def _auth(self, request: web.Request, expected: str, *, whatsapp: bool) -> None:
        if not VERSION.match(request.match_info["version"]):
            raise GraphError(
                400, 2500, "Unknown path components: /" + request.match_info["version"]
            )
        token = self._token_of(request)
        if not token:
            raise GraphError(400, 104, "An access token is required to request this resource.")
        if not hmac.compare_digest(token, expected):
            raise GraphError(
                401 if whatsapp else 400,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                headers={
                    "WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" '
                    '"Invalid OAuth access token"'
                },
            )
        proof = request.query.get("appsecret_proof")
        right = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if proof is None and self.require_proof:
            raise GraphError(
                400,
                100,
                "API calls from the server require an appsecret_proof argument",
                kind="GraphMethodException",
            )
        if proof is not None and not hmac.compare_digest(proof, right):
            raise GraphError(
                400,
                100,
                "Invalid appsecret_proof provided in the API argument",
                kind="GraphMethodException",
            )

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise bad_param("(#100) The request body is not valid JSON") from None
        _require(isinstance(body, dict), "The request body must be a JSON object")
        return dict(body)

    async def _guard(self, handler: Any, request: web.Request) -> web.StreamResponse:
        try:
            result: web.StreamResponse = await handler(request)
        except GraphError as err:
            return web.json_response(err.body, status=err.status, headers=err.headers)
        return result

    # -- routing --------------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info["node"]
        if request.method != "POST":
            return await self._guard(self._unsupported, request)
        if node in ("me", self.page_id):
            return await self._guard(self._send_api, request)
        if node == self.phone_number_id:
            return await self._guard(self._cloud_send, request)
        return await self._guard(self._unsupported, request)

    async def _node(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info["node"]
        if node in ("me", self.page_id) and request.method == "GET":
            return await self._guard(self._page, request)
        if node == self.phone_number_id and request.method == "GET":
            return await self._guard(self._phone, request)
        if node == self.phone_number_id and request.method == "POST":
            return await self._guard(self._override_callback, request)
        if node in self.media and request.method == "GET":
            return await self._guard(self._media_info, request)
        return await self._guard(self._unsupported, request)

    async def _unsupported(self, request: web.Request) -> web.StreamResponse:
        raise GraphError(
            400,
            100,
            f"Unsupported {request.method.lower()} request. Object with ID "
            f"'{request.match_info.get('node')}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            kind="GraphMethodException",
            subcode=33,
        )

    # -- Messenger ------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, self.page_token, whatsapp=False)
        return web.json_response({"id": self.page_id, "name": self.page_name})

    async def _send_api(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, self.page_token, whatsapp=False)
        body = await self._json(request)
        allowed = {"recipient", "messaging_type", "message", "tag", "notification_type"}
        _require(set(body) <= allowed, f"Unknown parameters: {sorted(set(body) - allowed)}")
        recipient = body.get("recipient")
        _require(
            isinstance(recipient, dict)
            and isinstance(recipient.get("id"), str)
            and recipient["id"].isdigit(),
            "param recipient[id] must be a PSID",
        )
        _require("messaging_type" in body, "The parameter messaging_type is required")
        _require(body["messaging_type"] in MESSAGING_TYPES, "Invalid messaging_type")
        if body["messaging_type"] == "MESSAGE_TAG":
            _require(isinstance(body.get("tag"), str), "The parameter tag is required")
        message = body.get("message")
        _require(isinstance(message, dict), "The parameter message is required")
        self._check_fb_message(message)
        psid = recipient["id"]
        if psid in self.outside_window:
            raise GraphError(
                400,
                10,
                "(#10) This message is sent outside of allowed window. "
                "Learn more about the new policy here: "
                "https://developers.facebook.com/docs/messenger-platform/policy-overview",
                subcode=2018278,
            )
        self.sent.append(body)
        self.answered.append(f"m_{next(self._ids)}")
        return web.json_response({"recipient_id": psid, "message_id": self.answered[-1]})

    @staticmethod
    def _check_fb_message(message: dict[str, Any]) -> None:
        allowed = {"text", "attachment", "quick_replies", "metadata"}
        _require(
            set(message) <= allowed, f"Unknown message fields: {sorted(set(message) - allowed)}"
        )
        _require(
            ("text" in message) != ("attachment" in message),
            "Exactly one of message[text] or message[attachment] must be set",
        )
        if "text" in message:
            text = message["text"]
            _require(isinstance(text, str) and text != "", "param message[text] must be non-empty")
            _require(
                len(text) <= 2000,
                "Length of param message[text] must be less than or equal to 2000",
            )
        else:
            att = message["attachment"]
            _require(
                isinstance(att, dict) and att.get("type") in FB_ATTACHMENT_TYPES,
                "param message[attachment][type] must be one of image, audio, video, file, "
                "template",
            )
            payload = att.get("payload")
            _require(isinstance(payload, dict), "param message[attachment][payload] is required")
            url = payload.get("url")
            _require(
                isinstance(url, str) and url.startswith(("https://", "http://")),
                "param message[attachment][payload][url] must be a URL",
            )
        if "quick_replies" in message:
            replies = message["quick_replies"]
            _require(
                isinstance(replies, list) and 1 <= len(replies) <= 13,
                "param message[quick_replies] must have 1 to 13 elements",
            )
            for qr in replies:
                _require(
                    isinstance(qr, dict) and qr.get("content_type") == "text",
                    "quick reply content_type must be text",
                )
                title, payload = qr.get("title"), qr.get("payload")
                _require(
                    isinstance(title, str) and 1 <= len(title) <= 20,
                    "quick reply title must be 1..20 characters",
                )
                _require(
                    isinstance(payload, str) and 1 <= len(payload) <= 1000,
                    "quick reply payload must be 1..1000 characters",
                )

    # -- WhatsApp -------------------------------------------------------------------------------

    async def _phone(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, self.wa_token, whatsapp=True)
        info = {
            "verified_name": self.verified_name,
            "display_phone_number": self.display_phone_number,
            "id": self.phone_number_id,
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
        }
        fields = request.query.get("fields")
        if fields:
            info = {k: v for k, v in info.items() if k in fields.split(",") or k == "id"}
        return web.json_response(info)

    async def _cloud_send(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, self.wa_token, whatsapp=True)
        body = await self._json(request)
        _require(
            body.get("messaging_product") == "whatsapp",
            "The parameter messaging_product is required.",
        )
        _require(
            body.get("recipient_type", "individual") == "individual",
            "recipient_type must be individual",
        )
        to, bsuid = body.get("to"), body.get("recipient")
        _require((to is None) != (bsuid is None), "Exactly one of to or recipient is required")
        if to is not None:
            _require(
                isinstance(to, str)
                and RecipientType.from_recipient(to)
                in (RecipientType.WA_ID, RecipientType.PHONE_NUMBER),
                "param to must be a phone number",
            )
        else:
            _require(
                isinstance(bsuid, str)
                and RecipientType.from_recipient(bsuid)
                in (RecipientType.BSUID, RecipientType.PARENT_BSUID),
                "param recipient must be a business-scoped user ID",
            )
        kind = body.get("type", "text")
        _require(kind in WA_TYPES, f"Unsupported message type {kind!r}")
        others = set(body) - {
            "messaging_product",
            "recipient_type",
            "to",
            "recipient",
            "type",
            kind,
            "context",
            "biz_opaque_callback_data",
        }
        _require(not others, f"Unexpected parameters {sorted(others)}")
        obj = body.get(kind)
        _require(isinstance(obj, dict), f"The parameter {kind} is required.")
        self._check_wa_object(kind, obj)
        who = to or bsuid
        if who in self.outside_window:
            raise GraphError(
                400, 131047, "(#131047) Re-engagement message", details=OUTSIDE_WINDOW_DETAILS
            )
        self.sent.append(body)
        self.answered.append(f"wamid.HBgL{next(self._ids):06d}{secrets.token_hex(4).upper()}")
        contact = {"input": who, "wa_id": who} if to else {"input": who, "user_id": who}
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": self.answered[-1]}],
            }
        )

    def _check_wa_object(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "text":
            _require(set(obj) <= {"body", "preview_url"}, "text takes body and preview_url")
            body = obj.get("body")
            _require(
                isinstance(body, str) and 1 <= len(body) <= 4096,
                "text.body must be 1..4096 characters",
            )
        elif kind in WA_MEDIA:
            _require(("link" in obj) != ("id" in obj), f"{kind} needs exactly one of link or id")
            link = obj.get("link")
            _require(
                link is None or str(link).startswith(("https://", "http://")),
                f"{kind}.link must be a URL",
            )
            allowed = (
                {"link", "id", "caption", "filename"}
                if kind == "document"
                else ({"link", "id"} if kind in ("audio", "sticker") else {"link", "id", "caption"})
            )
            _require(set(obj) <= allowed, f"unexpected {kind} fields {sorted(set(obj) - allowed)}")
        elif kind == "interactive":
            self._check_interactive(obj)

    @staticmethod
    def _check_interactive(obj: dict[str, Any]) -> None:
        body = obj.get("body")
        _require(
            isinstance(body, dict)
            and isinstance(body.get("text"), str)
            and 1 <= len(body["text"]) <= 1024,
            "interactive.body.text must be 1..1024 characters",
        )
        action = obj.get("action")
        _require(isinstance(action, dict), "interactive.action is required")
        if obj.get("type") == "button":
            buttons = action.get("buttons")
            _require(
                isinstance(buttons, list) and 1 <= len(buttons) <= 3,
                "action.buttons must have 1..3 buttons",
            )
            ids, titles = [], []
            for b in buttons:
                reply = b.get("reply") if isinstance(b, dict) else None
                _require(
                    b.get("type") == "reply" and isinstance(reply, dict),
                    "button type must be reply",
                )
                ids.append(reply.get("id"))
                titles.append(reply.get("title"))
            _require(
                all(isinstance(i, str) and 1 <= len(i) <= 256 for i in ids)
                and len(set(ids)) == len(ids),
                "button ids must be unique, 1..256",
            )
            _require(
                all(isinstance(t, str) and 1 <= len(t) <= 20 for t in titles)
                and len(set(titles)) == len(titles),
                "button titles must be unique, 1..20 characters",
            )
        elif obj.get("type") == "list":
            label, sections = action.get("button"), action.get("sections")
            _require(
                isinstance(label, str) and 1 <= len(label) <= 20,
                "action.button must be 1..20 characters",
            )
            _require(
                isinstance(sections, list) and 1 <= len(sections) <= 10,
                "action.sections must have 1..10 sections",
            )
            rows = [r for s in sections for r in s.get("rows", [])]
            _require(1 <= len(rows) <= 10, "a list message has 1..10 rows in all")
            _require(
                all(len(str(s.get("title", ""))) <= 24 for s in sections)
                and (len(sections) == 1 or all(s.get("title") for s in sections)),
                "section titles are required (several sections), <= 24",
            )
            _require(
                all(isinstance(r.get("title"), str) and 1 <= len(r["title"]) <= 24 for r in rows),
                "row titles must be 1..24 characters",
            )
            ids = [r.get("id") for r in rows]
            _require(
                all(isinstance(i, str) and 1 <= len(i) <= 200 for i in ids)
                and len(set(ids)) == len(ids),
                "row ids must be unique, 1..200",
            )
        else:
            raise bad_param("(#100) interactive.type must be button or list")

    async def _override_callback(self, request: web.Request) -> web.StreamResponse:
        """Set the phone number's callback override; Meta verifies the URL right away."""
        self._auth(request, self.wa_token, whatsapp=True)
        body = await self._json(request)
        config = body.get("webhook_configuration")
        _require(isinstance(config, dict), "The parameter webhook_configuration is required.")
        url, token = config.get("override_callback_uri"), config.get("verify_token")
        _require(
            isinstance(url, str) and len(url) <= 200 and url.startswith("http"),
            "override_callback_uri must be a URL of at most 200 characters",
        )
        _require(isinstance(token, str) and token != "", "verify_token is required")
        challenge = str(secrets.randbelow(10**9))
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": token}
        try:
            async with aiohttp.ClientSession() as session, session.get(url, params=params) as r:
                status, text = r.status, await r.text()
        except aiohttp.ClientError as exc:
            status, text = 0, str(exc)
        if status != 200 or text != challenge:
            raise GraphError(
                400,
                2200,
                "(#2200) Callback verification failed with the following "
                f"errors: HTTP Status Code = {status}",
            )
        self.callback = {"url": url, "verify_token": token}
        return web.json_response({"success": True})

    async def _media_info(self, request: web.Request) -> web.StreamResponse:
        self._auth(request, self.wa_token, whatsapp=True)
        media_id = request.match_info["node"]
        media = self.media[media_id]
        origin = str(request.url.origin())
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{origin}/download/{media_id}?ext={secrets.token_hex(4)}",
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": len(media.content),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not hmac.compare_digest(auth, f"Bearer {self.wa_token}"):
            return web.json_response(
                graph_error(190, "Invalid OAuth access token - Cannot parse access token"),
                status=401,
            )
        media = self.media.get(request.match_info["media_id"])
        if media is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=media.content, content_type=media.mime_type)


def signed(payload: Any, app_secret: str) -> tuple[bytes, dict[str, str]]:
    """A webhook body as Meta sends it (JSON with escaped unicode) and its headers, the
    ``X-Hub-Signature-256`` checked with pywa's own validator."""
    if isinstance(payload, bytes):
        raw = payload
    elif isinstance(payload, str):
        raw = payload.encode()
    else:
        raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    assert webhook_updates_validator(app_secret, raw, signature)
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
