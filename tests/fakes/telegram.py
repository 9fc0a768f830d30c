"""A fake Telegram Bot API (``/bot<token>/<method>`` and ``/file/bot<token>/<path>``).

Like the real one it takes parameters as a query string, ``application/x-www-form-urlencoded``,
``multipart/form-data`` or ``application/json`` (PTB sends form-encoded; nested objects such as
``reply_markup`` then arrive JSON-serialized), answers an unknown token with 401
``Unauthorized`` and a token of the wrong shape with 404 ``Not Found``, and validates what it
is given (chat_id, text 1..4096, caption <= 1024, reply_markup parsed by python-telegram-bot,
callback_data 1..64 bytes, HTTPS webhook URL, secret_token charset).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import telegram
from aiohttp import web

from tests.fakes.base import FakeProvider

TOKEN_SHAPE = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    429: "Too Many Requests: retry after 0",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class Call:
    """One accepted Bot API call, its parameters decoded."""

    method: str
    params: dict[str, Any]


class FakeTelegram(FakeProvider):
    def __init__(self, token: str, username: str = "acme_support_bot") -> None:
        super().__init__()
        assert TOKEN_SHAPE.match(token), "use a token of the real shape"
        self.token = token
        self.bot = telegram.User(int(token.split(":")[0]), "Acme Support", True, username=username)
        self.api: list[Call] = []
        self.webhook: dict[str, Any] | None = None
        self.blocked: set[int] = set()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self._ids = itertools.count(1000)
        self.app.router.add_route("*", "/bot{token}/{method}", self._method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._file)

    def error_body(self, status: int, retry_after: int | None = None) -> Any:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": DESCRIPTIONS.get(status, f"Error {status}"),
        }
        if status == 429:
            wait = 0 if retry_after is None else retry_after
            body["description"] = f"Too Many Requests: retry after {wait}"
            body["parameters"] = {"retry_after": wait}
        return body

    def add_file(self, file_id: str, file_path: str, content: bytes) -> None:
        self.files[file_id] = (file_path, content)

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [c.params for c in self.api if c.method == method]

    # -- transport --------------------------------------------------------------------

    def _auth(self, token: str) -> None:
        if not TOKEN_SHAPE.match(token):
            raise ApiError(404, "Not Found")
        if token != self.token:
            raise ApiError(401, "Unauthorized")

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        body = await request.read()  # already read (and cached) by the recording middleware
        if request.method != "POST" or not body:
            return params
        if request.content_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: parameters must be a JSON object")
            params.update(data)
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        elif request.content_type == "multipart/form-data":
            head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
            form = BytesParser(policy=default).parsebytes(head + body)
            for part in form.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                text = payload.decode() if isinstance(payload, bytes) else ""
                params[str(name)] = part.get_filename() or text
        else:
            raise ApiError(400, "Bad Request: unsupported content type")
        return params

    async def _method(self, request: web.Request) -> web.Response:
        try:
            self._auth(request.match_info["token"])
            method = request.match_info["method"]
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            params = await self._params(request)
            result = handler(params)
        except ApiError as exc:
            return web.json_response(
                {"ok": False, "error_code": exc.code, "description": exc.description},
                status=exc.code,
            )
        self.api.append(Call(method, params))
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        try:
            self._auth(request.match_info["token"])
        except ApiError as exc:
            return web.json_response(self.error_body(exc.code), status=exc.code)
        path = request.match_info["path"]
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.json_response(self.error_body(404), status=404)

    # -- validation -------------------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _markup(self, params: dict[str, Any]) -> None:
        raw = params.get("reply_markup")
        if raw is None:
            return
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            markup = telegram.InlineKeyboardMarkup.de_json(data, None)
        except (ValueError, TypeError, KeyError):
            raise ApiError(
                400, "Bad Request: can't parse reply keyboard markup JSON object"
            ) from None
        if markup is None or not markup.inline_keyboard:
            raise ApiError(400, "Bad Request: can't parse inline keyboard markup")
        for row in markup.inline_keyboard:
            for button in row:
                if not button.text:
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data_bytes = len(str(button.callback_data or "").encode())
                if button.url is None and not 1 <= data_bytes <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        params["reply_markup"] = data

    def _message(self, chat: int, **content: Any) -> dict[str, Any]:
        message = telegram.Message(
            next(self._ids), datetime.now(UTC), telegram.Chat(chat, "private"),
            from_user=self.bot, **content,
        )  # fmt: skip
        result: dict[str, Any] = message.to_dict()
        return result

    # -- methods ----------------------------------------------------------------------

    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return {**self.bot.to_dict(), "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}  # fmt: skip

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = params.get("url", "")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not SECRET_SHAPE.match(str(secret)):
            raise ApiError(
                400, "Bad Request: bad webhook: secret token contains unallowed characters"
            )
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if allowed is not None and not (
            isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)
        ):
            raise ApiError(400, "Bad Request: can't parse allowed updates")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed}
        return True

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        self._markup(params)
        return self._message(chat, text=text)

    def _media(self, params: dict[str, Any], field: str) -> tuple[int, str, str | None]:
        chat = self._chat(params)
        media = params.get(field)
        if not isinstance(media, str) or not media:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        self._markup(params)
        return chat, media, caption

    def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat, _url, caption = self._media(params, "photo")
        size = telegram.PhotoSize(f"photo-{next(self._ids)}", "u1", 800, 600)
        return self._message(chat, photo=(size,), caption=caption)

    def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        chat, url, caption = self._media(params, "document")
        by_url = url.startswith(("http://", "https://"))
        if by_url and not urlsplit(url).path.lower().endswith((".pdf", ".zip", ".gif")):
            # "In sendDocument, sending by URL will currently only work for GIF, PDF and ZIP"
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        doc = telegram.Document(f"doc-{next(self._ids)}", "u2", file_name=url.rsplit("/", 1)[-1])
        return self._message(chat, document=doc, caption=caption)

    def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(content),
                "file_path": path}  # fmt: skip
