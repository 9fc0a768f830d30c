"""A fake Inteliquent: the Message Broker (``/msgbroker/rest/…``) and the Services API
(``/Services/2.0.0/tnDetail``), as in Inteliquent's API v2 specification.

- Message Broker: every call needs exactly ``Authorization: Bearer <outbound key>`` (else 401
  ``{"success": false, "reason": "UNAUTHORIZED", …}``). ``publishMessages`` takes only
  ``from`` (an 11-digit TN of the account), ``to`` (a non-empty array of 11-digit numbers),
  ``text`` and ``mediaUrls`` (an array of http(s) URLs), and answers with a referenceId and
  one resultResponse per recipient; anything else is refused with ``success: false``.
  ``configureAuthorization`` registers per-TN webhooks (one per TN, replaced on a new
  registration) and echoes them with their authId; ``selectAuthorization`` lists them;
  ``removeAuthorization`` deletes by authId.
- Services API: Basic ``key:secret`` (else 401 with the spec's body) and ``privateKey`` = the
  key in the body (else 408 "Private Key cannot be blank."); ``tnDetail`` answers the TNs
  matching ``tnMask`` (``x`` = any digit), or 430 "No Result Found".

The fake also builds inbound webhooks (``inbound_body``, ``signed_headers``) the way the
provider would for a given verification.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeProvider

TN11 = re.compile(r"^1[2-9]\d{2}[2-9]\d{6}$")
URL = re.compile(r"^https?://\S+$")
PUBLISH_FIELDS = {"from", "to", "text", "mediaUrls"}


@dataclass
class Authorization:
    auth_id: str
    webhook_url: str
    tn: str | None
    header_name: str | None
    header_value: str | None
    api_key: str | None

    def view(self, *, full: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "authId": self.auth_id,
            "inboundAuth": True,
            "webhookUrl": self.webhook_url,
            "tn": self.tn,
        }
        if full:
            data.update(headerName=self.header_name, headerValue=self.header_value)
        return data


class FakeInteliquent(FakeProvider):
    def __init__(
        self, *, outbound_key: str, api_key: str, api_secret: str, tns: list[str] | None = None
    ) -> None:
        super().__init__()
        self.outbound_key = outbound_key
        self.api_key = api_key
        self.api_secret = api_secret
        self.tns: set[str] = set(tns or [])  # 10-digit numbers on the account
        self.published: list[dict[str, Any]] = []  # accepted publishMessages bodies
        self.reference_ids: list[str] = []
        self.authorizations: dict[str, Authorization] = {}
        self.echo_auth_id = True  # configureAuthorization returns the authId
        self._auth_ids = itertools.count(279037)
        broker = "/msgbroker/rest/"
        self.app.router.add_post(broker + "publishMessages", self._publish)
        self.app.router.add_post(broker + "configureAuthorization", self._configure)
        self.app.router.add_post(broker + "selectAuthorization", self._select)
        self.app.router.add_post(broker + "removeAuthorization", self._remove)
        self.app.router.add_post("/Services/2.0.0/tnDetail", self._tn_detail)

    def error_body(self, status: int) -> Any:
        if status == 401:
            return {
                "success": False,
                "reason": "UNAUTHORIZED",
                "detail": "Invalid or missing API key",
            }
        return {
            "success": False,
            "reason": "SERVICE_UNAVAILABLE",
            "detail": f"Message broker unavailable (HTTP {status})",
        }

    # -- what a test configures ------------------------------------------------------------

    def urls(self, base: str) -> dict[str, str]:
        """The platform fields that point a CPaaS platform at this fake."""
        return {
            "messaging_base_url": base + "/msgbroker/rest",
            "services_base_url": base + "/Services/2.0.0",
        }

    # -- Message Broker -------------------------------------------------------------------

    @staticmethod
    def refused(reason: str, detail: str) -> web.Response:
        return web.json_response({"success": False, "reason": reason, "detail": detail})

    async def _broker_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.outbound_key}":
            return web.json_response(self.error_body(401), status=401)
        if request.content_type != "application/json":
            return self.refused("INVALID_REQUEST", "Content-Type must be application/json")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return self.refused("INVALID_REQUEST", "Malformed JSON")
        if not isinstance(body, dict):
            return self.refused("INVALID_REQUEST", "The body must be a JSON object")
        return body

    async def _publish(self, request: web.Request) -> web.Response:
        body = await self._broker_body(request)
        if isinstance(body, web.Response):
            return body
        problem = self._check_publish(body)
        if problem:
            return self.refused("INVALID_REQUEST", problem)
        reference = str(uuid.uuid4())
        self.published.append(body)
        self.reference_ids.append(reference)
        result: dict[str, Any] = {
            "referenceId": reference,
            "from": body["from"],
            "text": body.get("text", ""),
            "messageType": "MMS" if "mediaUrls" in body else "SMS",
            "resultResponses": [{"to": to, "status": "SUCCESS"} for to in body["to"]],
        }
        if "mediaUrls" in body:
            result["mediaUrls"] = body["mediaUrls"]
        return web.json_response(
            {"success": True, "reason": "SUCCESS", "detail": "SUCCESS", "result": result}
        )

    def _check_publish(self, body: dict[str, Any]) -> str | None:
        extra = set(body) - PUBLISH_FIELDS
        if extra:
            return f"Unknown field(s): {', '.join(sorted(extra))}"
        sender, to = body.get("from"), body.get("to")
        if not isinstance(sender, str) or not TN11.match(sender):
            return "from must be an 11-digit TN"
        if sender[1:] not in self.tns:
            return f"TN {sender} is not assigned to this account or messaging is not enabled"
        if not isinstance(to, list) or not to:
            return "to must be a non-empty array"
        if not all(isinstance(n, str) and TN11.match(n) for n in to):
            return "to must hold 11-digit numbers"
        text, media = body.get("text"), body.get("mediaUrls")
        if text is not None and not isinstance(text, str):
            return "text must be a string"
        if media is not None and (
            not isinstance(media, list)
            or not media
            or not all(isinstance(u, str) and URL.match(u) for u in media)
        ):
            return "mediaUrls must be a non-empty array of URLs"
        if not text and not media:
            return "text is required for SMS"
        return None

    async def _configure(self, request: web.Request) -> web.Response:
        body = await self._broker_body(request)
        if isinstance(body, web.Response):
            return body
        auths = body.get("authorizations")
        if not isinstance(auths, list) or not auths:
            return self.refused("INVALID_REQUEST", "authorizations must be a non-empty array")
        made: list[Authorization] = []
        for auth in auths:
            if not isinstance(auth, dict) or auth.get("inboundAuth") is not True:
                return self.refused("INVALID_REQUEST", "inboundAuth must be sent as true")
            url, tn = auth.get("webhookUrl"), auth.get("tn")
            if not isinstance(url, str) or not URL.match(url):
                return self.refused("INVALID_REQUEST", "webhookUrl must be a URL")
            if tn is not None and (not isinstance(tn, str) or not TN11.match(tn)):
                return self.refused("INVALID_REQUEST", "tn must be an 11-digit TN")
            if tn is not None and tn[1:] not in self.tns:
                return self.refused("INVALID_TN", f"TN {tn} is not assigned to this account")
            for old in [a for a in self.authorizations.values() if a.tn == tn]:
                del self.authorizations[old.auth_id]
            made.append(
                Authorization(
                    auth_id=str(next(self._auth_ids)),
                    webhook_url=url,
                    tn=tn,
                    header_name=auth.get("headerName"),
                    header_value=auth.get("headerValue"),
                    api_key=auth.get("apiKey"),
                )
            )
        for auth_made in made:
            self.authorizations[auth_made.auth_id] = auth_made
        config = {"authorizations": [a.view(full=False) for a in made]} if self.echo_auth_id else {}
        return web.json_response(
            {"success": True, "reason": "SUCCESS", "detail": "SUCCESS", "authConfig": config}
        )

    async def _select(self, request: web.Request) -> web.Response:
        body = await self._broker_body(request)
        if isinstance(body, web.Response):
            return body
        auths = [a.view(full=True) for a in self.authorizations.values()]
        return web.json_response(
            {
                "success": True,
                "reason": "SUCCESS",
                "detail": "SUCCESS",
                "authConfig": {"authorizations": auths},
            }
        )

    async def _remove(self, request: web.Request) -> web.Response:
        body = await self._broker_body(request)
        if isinstance(body, web.Response):
            return body
        auths = body.get("authorizations")
        if not isinstance(auths, list) or not auths:
            return self.refused("INVALID_REQUEST", "authorizations must be a non-empty array")
        ids = [str(a.get("authId")) for a in auths if isinstance(a, dict)]
        missing = [i for i in ids if i not in self.authorizations]
        if missing:
            return self.refused("NOT_FOUND", f"No authorization with authId {missing[0]}")
        for auth_id in ids:
            del self.authorizations[auth_id]
        return web.json_response({"success": True, "reason": "SUCCESS", "detail": "SUCCESS"})

    # -- Services API ---------------------------------------------------------------------

    def _basic_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return key == self.api_key and secret == self.api_secret

    async def _tn_detail(self, request: web.Request) -> web.Response:
        if not self._basic_ok(request):
            return web.json_response(
                {
                    "message": "Invalid authentication information provided",
                    "status": "Invalid credentials",
                    "statusCode": "401001",
                    "timestamp": "2019-12-10T14:07:32.310-0600",
                },
                status=401,
            )
        body = json.loads(await request.read() or b"{}")
        if body.get("privateKey") != self.api_key:
            return web.json_response(
                {"statusCode": "408", "status": "Private Key cannot be blank."}, status=408
            )
        items = (body.get("tnSearchList") or {}).get("tnSearchItem") or []
        masks = [i.get("tnMask") for i in items if isinstance(i, dict)]
        if not masks or not all(
            isinstance(m, str) and re.fullmatch(r"[\dx]{10}", m) for m in masks
        ):
            return web.json_response(
                {"statusCode": "409", "status": "Invalid Input Parameters"}, status=409
            )
        patterns = [re.compile("^" + str(m).replace("x", r"\d") + "$") for m in masks]
        found = sorted(tn for tn in self.tns if any(p.match(tn) for p in patterns))
        if not found:
            return web.json_response({"statusCode": "430", "status": "No Result Found"}, status=430)
        size = int((body.get("pageSort") or {}).get("size") or len(found))
        return web.json_response(
            {
                "statusCode": "200",
                "status": "Success",
                "page": "1",
                "totalPages": str(-(-len(found) // size)),
                "totalItems": str(len(found)),
                "tnList": {
                    "tnItem": [
                        {
                            "tn": tn,
                            "tnStatus": "In Service",
                            "tnFeature": {
                                "messaging": {"messageClass": "A2PLC", "messageType": "SMSMMS"}
                            },
                        }
                        for tn in found[:size]
                    ]
                },
            }
        )


# -- inbound webhooks, as the provider sends them ----------------------------------------------


def inbound_body(
    sender: str | int,
    to: list[str | int],
    text: str | None = None,
    media_urls: list[str] | None = None,
    reference_id: str | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "referenceId": reference_id or uuid.uuid4().hex[:16],
        "from": sender,
        "to": to,
    }
    if text is not None:
        body["text"] = text
    if media_urls is not None:
        body["mediaUrls"] = media_urls
    return json.dumps(body).encode()


def receipt_body(reference_id: str, sender: str, to: str) -> bytes:
    return json.dumps(
        {"referenceId": reference_id, "from": sender, "to": [to], "deliveryReceipt": True}
    ).encode()


def header_headers(name: str, value: str) -> dict[str, str]:
    return {"Content-Type": "application/json", name: value}


def message_id_headers(
    api_key: str, algorithm: str, message_id: str | None = None
) -> dict[str, str]:
    """``MessageId`` + ``VerificationToken`` as the spec (HMAC) or deployed code (sha256 of
    key + id) computes them."""
    message_id = message_id or str(uuid.uuid4())
    if algorithm == "sha256_concat":
        token = hashlib.sha256(f"{api_key}{message_id}".encode()).hexdigest()
    else:
        token = hmac.new(api_key.encode(), message_id.encode(), "sha256").hexdigest()
    return {"Content-Type": "application/json", "MessageId": message_id, "VerificationToken": token}
