"""The calls Switchboard makes to Inteliquent for one CPaaS platform.

Two APIs, two credentials (Inteliquent's API v2 specification):

- the **Message Broker** (``platform.messaging_base_url``): ``Authorization: Bearer <outbound
  API key>`` (portal: *Message-Broker API Key*); ``publishMessages`` sends, and
  ``configureAuthorization`` / ``selectAuthorization`` / ``removeAuthorization`` manage the
  per-number inbound webhooks. Answers carry ``success`` + ``reason`` / ``detail``.
- the **Services API** (``platform.services_base_url``, ``/Services/2.0.0``): the spec's Basic
  authentication ``Authorization: Basic base64(key:secret)`` with the portal's *API Key* page
  key and secret, plus the key again as ``privateKey`` in every JSON body. ``/tnDetail``
  (``tnSearchList.tnSearchItem[].tnMask``, 10 digits) tells whether a number is on the
  account; "No Result Found" is statusCode 430.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from channels.base import CheckResult, ConnectionCheck, check_from_error
from channels.cpaas import CpaasPlatform, HeaderVerification, normalize_us_number
from channels.errors import ChannelError, PermanentSendError
from channels.http import call
from channels.inteliquent import _wire as wire


class InteliquentClient:
    def __init__(self, platform: CpaasPlatform, session: aiohttp.ClientSession) -> None:
        self.platform = platform
        self._session = session
        self._broker = platform.messaging_base_url.rstrip("/")
        self._services = platform.services_base_url.rstrip("/")

    # -- transport ------------------------------------------------------------------------

    async def _broker_call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.platform.outbound_api_key.get_secret_value()
        _, answer, _ = await call(
            self._session, "POST", f"{self._broker}/{operation}", json=body,
            headers={"Authorization": f"Bearer {key}"}, describe=wire.describe,
        )  # fmt: skip
        if not isinstance(answer, dict):
            raise PermanentSendError(f"{operation}: unexpected answer from the Message Broker")
        if answer.get("success") is not True:
            raise wire.broker_refusal(operation, answer)
        return answer

    async def _services_call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.platform.account_key
        basic = aiohttp.encode_basic_auth(key, self.platform.token_secret.get_secret_value())
        _, answer, _ = await call(
            self._session, "POST", f"{self._services}/{operation}",
            json={"privateKey": key, **body}, headers={"Authorization": basic},
            describe=wire.describe,
        )  # fmt: skip
        if not isinstance(answer, dict):
            raise PermanentSendError(f"{operation}: unexpected answer from the Services API")
        code = str(answer.get("statusCode", "200"))
        if code != "200":
            raise PermanentSendError(wire.describe(answer) or f"{operation}: status {code}")
        return answer

    # -- credentials and inventory --------------------------------------------------------

    async def check_credentials(self) -> ConnectionCheck:
        """Try both credentials; never raises. The first refusal is reported in its words."""
        try:
            await self._broker_call("selectAuthorization", {})
        except ChannelError as exc:
            check = check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
            detail = f"Message Broker refused the outbound API key: {check.detail}"
            return check.model_copy(update={"detail": detail})
        try:
            total = await self._count_numbers()
        except ChannelError as exc:
            check = check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
            detail = f"Services API refused the API key / secret: {check.detail}"
            return check.model_copy(update={"detail": detail})
        return ConnectionCheck(
            result=CheckResult.VALID,
            detail=f"credentials accepted; {total} telephone number(s) on the account",
        )

    async def _tn_detail(self, mask: str, size: int) -> dict[str, Any] | None:
        body = {
            "tnSearchList": {"tnSearchItem": [{"tnMask": mask}]},
            "pageSort": {"page": 1, "size": size},
        }
        try:
            return await self._services_call("tnDetail", body)
        except PermanentSendError as exc:
            if wire.is_no_result(exc):
                return None
            raise

    async def _count_numbers(self) -> int:
        answer = await self._tn_detail("x" * 10, 1)
        if answer is None:
            return 0
        try:
            return int(answer.get("totalItems", 0))
        except (TypeError, ValueError):
            return len(wire.items(answer.get("tnList"), "tnItem"))

    async def number_exists(self, number: str) -> bool:
        """Whether the 10-digit ``number`` is a telephone number of this account."""
        tn = normalize_us_number(number)
        answer = await self._tn_detail(tn, 10)
        if answer is None:
            return False
        found = wire.items(answer.get("tnList"), "tnItem")
        return any(wire.ten_digits(item.get("tn", "")) == tn for item in found)

    # -- inbound webhooks -----------------------------------------------------------------

    async def register_webhook(self, number: str, url: str) -> str:
        """Point ``number``'s inbound messages at ``url`` with the platform's verification;
        returns the provider's ``authId`` of that registration."""
        tn = wire.iq_tn(normalize_us_number(number))
        auth: dict[str, Any] = {"inboundAuth": True, "webhookUrl": url, "tn": tn}
        verification = self.platform.inbound_verification
        if isinstance(verification, HeaderVerification):
            auth["headerName"] = verification.header_name
            auth["headerValue"] = verification.header_value.get_secret_value()
        else:
            auth["apiKey"] = verification.inbound_api_key.get_secret_value()
        answer = await self._broker_call("configureAuthorization", {"authorizations": [auth]})
        auth_id = _auth_id(answer, tn, url)
        if auth_id is None:  # not echoed back: look it up
            auth_id = _auth_id(await self._broker_call("selectAuthorization", {}), tn, url)
        if auth_id is None:
            raise PermanentSendError(f"configureAuthorization: no webhook registered for {tn}")
        return auth_id

    async def remove_webhook(self, auth_id: str) -> None:
        await self._broker_call("removeAuthorization", {"authorizations": [{"authId": auth_id}]})

    # -- sending --------------------------------------------------------------------------

    async def publish(
        self, from_number: str, to_numbers: Sequence[str], text: str,
        media_urls: Sequence[str] = (),
    ) -> str:  # fmt: skip
        """Send one SMS (or MMS when ``media_urls``); returns the provider's referenceId."""
        body: dict[str, Any] = {
            "from": wire.iq_tn(from_number),
            "to": [wire.iq_tn(n) for n in to_numbers],
        }
        if text:
            body["text"] = text
        if media_urls:
            body["mediaUrls"] = list(media_urls)
        answer = await self._broker_call("publishMessages", body)
        result = answer.get("result")
        if not isinstance(result, dict) or not result.get("referenceId"):
            raise PermanentSendError("publishMessages: the answer carries no referenceId")
        for item in wire.items(result, "resultResponses"):
            status = str(item.get("status", "SUCCESS"))
            if status.upper() != "SUCCESS":
                raise wire.InteliquentError("publishMessages", status, f"to {item.get('to')}")
        return str(result["referenceId"])


def _auth_id(answer: dict[str, Any], tn: str, url: str) -> str | None:
    for auth in wire.items(answer.get("authConfig"), "authorizations"):
        if wire.digits(auth.get("tn", "")) != tn or auth.get("authId") in (None, ""):
            continue
        if auth.get("webhookUrl") in (None, url):
            return str(auth["authId"])
    return None
