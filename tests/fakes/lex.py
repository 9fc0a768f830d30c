"""Fake AWS Lex runtime (V2 RecognizeText, V1 PostText) that verifies what AWS verifies.

The SigV4 signature is recomputed with botocore from the received request: method, URL with
host:port, the signed headers, the body and the X-Amz-Date timestamp;
a mismatch answers 403 like AWS. Requests are validated against botocore's service model
(path and body parameters), and replies against the operation's output shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from tests.fakes.base import FakeProvider

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<ak>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)"
    r"/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]{64})$"
)
_SESSION = re.compile(r"^[0-9a-zA-Z._:-]{2,100}$")
_BOTO = botocore.session.get_session()
_V2 = _BOTO.get_service_model("lexv2-runtime").operation_model("RecognizeText")
_V1 = _BOTO.get_service_model("lex-runtime").operation_model("PostText")


@dataclass
class Script:
    intent: str = "FallbackIntent"
    confidence: float | None = None
    messages: list[str] = field(default_factory=lambda: ["Sorry, I did not get that."])


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": f"{kind}:http://internal"}
    )


class FakeLex(FakeProvider):
    def __init__(self, *, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        super().__init__()
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.scripts: dict[str, Script] = {}
        self.app.router.add_post(
            "/bots/{botId}/botAliases/{botAliasId}/botLocales/{localeId}/sessions/{sessionId}/text",
            self._recognize_text,
        )
        self.app.router.add_post(
            "/bot/{botName}/alias/{botAlias}/user/{userId}/text", self._post_text
        )

    def error_body(self, status: int) -> Any:
        return {"message": f"HTTP {status}"}

    def _verify(self, request: web.Request, body: bytes) -> web.Response | None:
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return _error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if match["ak"] != self.access_key:
            return _error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        if match["service"] != "lex" or match["region"] != self.region:
            return _error(403, "InvalidSignatureException", "Credential should be scoped correctly")
        signed = match["signed"].split(";")
        rebuilt = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=body,
            headers={name: request.headers[name] for name in signed if name in request.headers},
        )
        rebuilt.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        auth = SigV4Auth(Credentials(self.access_key, self.secret_key), "lex", self.region)
        expected = auth.signature(
            auth.string_to_sign(rebuilt, auth.canonical_request(rebuilt)), rebuilt
        )
        if expected != match["sig"]:
            return _error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        return None

    async def _parse(
        self, request: web.Request, operation: Any, id_name: str
    ) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.read()
        refused = self._verify(request, body)
        if refused is not None:
            return {}, refused
        try:
            params = {**request.match_info, **json.loads(body or b"{}")}
            validate_parameters(params, operation.input_shape)
        except (ValueError, ParamValidationError) as exc:
            return {}, _error(400, "ValidationException", str(exc))
        if not _SESSION.match(params[id_name]):
            return {}, _error(400, "ValidationException", f"1 validation error: {id_name}")
        return params, None

    def _script(self, text: str) -> Script:
        return self.scripts.get(text, Script())

    async def _recognize_text(self, request: web.Request) -> web.Response:
        params, refused = await self._parse(request, _V2, "sessionId")
        if refused is not None:
            return refused
        script = self._script(params["text"])
        state = params.get("sessionState") or {}
        attributes = dict(state.get("sessionAttributes") or {})
        attributes["turns"] = str(int(attributes.get("turns", "0")) + 1)
        interpretation: dict[str, Any] = {"intent": {"name": script.intent, "slots": {}}}
        if script.confidence is not None:
            interpretation["nluConfidence"] = {"score": script.confidence}
        reply = {
            "messages": [{"content": m, "contentType": "PlainText"} for m in script.messages],
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": script.intent, "state": "Fulfilled", "slots": {}},
                "sessionAttributes": attributes,
            },
            "interpretations": [interpretation, {"intent": {"name": "FallbackIntent"}}],
            "sessionId": params["sessionId"],
            "requestAttributes": {},
        }
        validate_parameters(reply, _V2.output_shape)
        return web.json_response(reply)

    async def _post_text(self, request: web.Request) -> web.Response:
        params, refused = await self._parse(request, _V1, "userId")
        if refused is not None:
            return refused
        script = self._script(params["inputText"])
        attributes = dict(params.get("sessionAttributes") or {})
        attributes["turns"] = str(int(attributes.get("turns", "0")) + 1)
        reply: dict[str, Any] = {
            "intentName": script.intent,
            "slots": {},
            "sessionAttributes": attributes,
            "message": " ".join(script.messages),
            "messageFormat": "PlainText",
            "dialogState": "Fulfilled",
            "sessionId": params["userId"],
            "botVersion": "1",
        }
        if script.confidence is not None:
            reply["nluIntentConfidence"] = {"score": script.confidence}
        validate_parameters(reply, _V1.output_shape)
        return web.json_response(reply)
