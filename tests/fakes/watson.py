"""Fake IBM Cloud IAM + Watson Assistant v1 that verifies what IBM verifies.

IAM issues real decodable JWTs (``iat``/``exp`` from an injectable clock) for the right API
key; the message and workspace endpoints require a live Bearer token (or Basic
username:password for the legacy service) and the ``version`` query parameter, refuse input
text with CR/LF/TAB or over 2048 characters, and every reply passes ibm-watson's
``MessageResponse.from_dict``.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from ibm_watson.assistant_v1 import MessageResponse

from tests.fakes.base import FakeProvider

GRANT = "urn:ibm:params:oauth:grant-type:apikey"
_KEY = "fake-iam-signing-key-of-at-least-32-bytes"


@dataclass
class Script:
    intent: str | None = None
    confidence: float = 0.0
    texts: list[str] = field(default_factory=lambda: ["I didn't understand."])
    options: list[str] = field(default_factory=list)
    connect_to_agent: bool = False


class FakeWatson(FakeProvider):
    def __init__(
        self,
        *,
        api_key: str = "",
        username: str = "",
        password: str = "",
        skill_id: str = "ws-1",
        token_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.api_key, self.username, self.password = api_key, username, password
        self.skill_id, self.token_ttl, self.clock = skill_id, token_ttl, clock
        self.scripts: dict[str, Script] = {}
        self.issued: list[str] = []
        self._serial = itertools.count(1)
        self.app.router.add_post("/identity/token", self._token)
        self.app.router.add_post("/v1/workspaces/{ws}/message", self._message)
        self.app.router.add_get("/v1/workspaces/{ws}", self._workspace)

    def error_body(self, status: int) -> Any:
        return {"error": f"HTTP {status}", "code": status}

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != GRANT or form.get("response_type") != "cloud_iam":
            return web.json_response(
                {"errorCode": "BXNIM0109E", "errorMessage": "Property missing or empty."},
                status=400,
            )
        if not self.api_key or form.get("apikey") != self.api_key:
            return web.json_response(
                {"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found."},
                status=400,
            )
        now = int(self.clock())
        token = jwt.encode(
            {"iat": now, "exp": now + self.token_ttl, "sub": "fake", "n": next(self._serial)},
            _KEY,
            algorithm="HS256",
        )
        self.issued.append(token)
        return web.json_response(
            {
                "access_token": token,
                "refresh_token": "not_supported",
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "expiration": now + self.token_ttl,
            }
        )

    def _refuse(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.issued:
            claims = jwt.decode(header[7:], _KEY, algorithms=["HS256"],
                                options={"verify_exp": False})  # fmt: skip
            if claims["exp"] > self.clock():
                return None
        elif header.startswith("Basic ") and self.username:
            pair = base64.b64decode(header[6:]).decode()
            if pair == f"{self.username}:{self.password}":
                return None
        return web.json_response({"error": "Unauthorized", "code": 401}, status=401)

    def _check(self, request: web.Request) -> web.Response | None:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if not request.query.get("version"):
            return web.json_response(
                {"error": "Missing required query parameter: version", "code": 400}, status=400
            )
        if request.match_info["ws"] != self.skill_id:
            return web.json_response({"error": "Resource not found", "code": 404}, status=404)
        return None

    async def _workspace(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        return web.json_response(
            {
                "name": "Fake skill",
                "workspace_id": self.skill_id,
                "language": "en",
                "learning_opt_out": False,
                "status": "Available",
            }
        )

    async def _message(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = await request.json()
        text = body["input"]["text"]
        if any(c in text for c in "\r\n\t") or len(text) > 2048:
            return web.json_response(
                {"error": "Invalid value for input.text", "code": 400}, status=400
            )
        script = self.scripts.get(text, Script())
        context = dict(body.get("context") or {"conversation_id": "c-fake", "system": {}})
        context["turns"] = int(context.get("turns", 0)) + 1
        generic: list[dict[str, Any]] = [{"response_type": "text", "text": t} for t in script.texts]
        if script.options:
            generic.append(
                {
                    "response_type": "option",
                    "title": "Pick one",
                    "options": [
                        {"label": o, "value": {"input": {"text": o}}} for o in script.options
                    ],
                }
            )
        if script.connect_to_agent:
            generic.append(
                {"response_type": "connect_to_agent", "message_to_human_agent": "Customer asks"}
            )
        intents = (
            [{"intent": script.intent, "confidence": script.confidence}] if script.intent else []
        )
        reply = {
            "input": body["input"],
            "intents": intents,
            "entities": [],
            "context": context,
            "output": {
                "generic": generic,
                "text": script.texts,
                "nodes_visited": ["node_1"],
                "log_messages": [],
            },
            "user_id": context["conversation_id"],
        }
        MessageResponse.from_dict(reply)  # what the SDK accepts
        return web.json_response(reply)
