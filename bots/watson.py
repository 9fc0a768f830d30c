"""IBM Watson Assistant engines (v1 workspace message): IAM API key, and Legacy (Basic auth).

IAM: the API key is exchanged for an access token (a JWT) at the account's ``iam_url``; the
token is cached per (IAM URL, API key) in the process and refreshed once 80 % of its life has
passed (its ``iat``/``exp`` read from the JWT payload without verifying it, as IBM's SDK does).
The exchange is not a message call: it may be retried once and is not counted against the
daily cap. Message calls are never retried.

The Watson ``context`` is returned as the reply's ``state`` and echoed on the next turn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import jwt

from bots.accounts import WatsonAccount, WatsonLegacyAccount
from bots.base import BotKind, BotReply, BotTurn
from bots.errors import BotAuthError, BotError, BotUnavailable
from bots.http import call, check_from_error, flatten
from channels.base import CheckResult, ConnectionCheck

TEXT_LIMIT = 2048
REFRESH_AT = 0.8  # of the token's lifetime
IAM_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
# A pasted "Legacy v1 workspace URL" (…/v1/workspaces/{id}/message) is cut to the service URL.
_WORKSPACE_SUFFIX = re.compile(r"/v1/workspaces(/[^/?#]*(/message)?)?/?$")


def service_url(url: str) -> str:
    return _WORKSPACE_SUFFIX.sub("", url.split("?", 1)[0].rstrip("/"))


def describe_error(body: Any, headers: Mapping[str, str]) -> str | None:
    if isinstance(body, dict):
        for key in ("errorMessage", "error", "message"):
            if body.get(key):
                return str(body[key])
    return None


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float
    expires_at: float


class IamTokens:
    """Cached IAM access tokens, one per (IAM URL, API key); ``clock`` is injectable."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.exchanges = 0

    async def token(self, session: aiohttp.ClientSession, account: WatsonAccount) -> str:
        key = hashlib.sha256(
            f"{account.iam_url}\0{account.api_key.get_secret_value()}".encode()
        ).hexdigest()
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            try:
                fresh = await self._exchange(session, account)
            except BotUnavailable:
                fresh = await self._exchange(session, account)  # safe: one retry
            self._tokens[key] = fresh
            return fresh.value

    async def _exchange(self, session: aiohttp.ClientSession, account: WatsonAccount) -> _Token:
        self.exchanges += 1
        now = self._clock()
        try:
            body = await _iam_call(session, account)
        except (BotAuthError, BotUnavailable):
            raise
        except BotError as exc:  # IAM refuses a wrong API key with 400 BXNIM0415E
            raise BotAuthError(f"IAM token exchange refused: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise BotUnavailable("IAM answered without an access token")
        value = body["access_token"]
        try:
            claims = jwt.decode(value, options={"verify_signature": False})
            issued, expires = float(claims.get("iat", now)), float(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            issued, expires = now, now + float(body.get("expires_in") or 3600)
        return _Token(value, issued + REFRESH_AT * (expires - issued), expires)


async def _iam_call(session: aiohttp.ClientSession, account: WatsonAccount) -> Any:
    return await call(
        session,
        "POST",
        account.iam_url,
        timeout_s=account.timeout_seconds,
        describe=describe_error,
        data={
            "grant_type": IAM_GRANT,
            "apikey": account.api_key.get_secret_value(),
            "response_type": "cloud_iam",
        },
        headers={"Accept": "application/json"},
    )


IAM_TOKENS = IamTokens()


def parse_message(body: Any, max_suggestions: int) -> BotReply:
    if not isinstance(body, dict):
        raise BotError("Watson answered with an unexpected body")
    output = body.get("output") or {}
    texts: list[str] = []
    choices: list[str] = []
    handoff = False
    for item in output.get("generic") or ():
        kind = item.get("response_type")
        if kind == "text" and item.get("text"):
            texts.append(str(item["text"]))
        elif kind == "option":
            if item.get("title"):
                texts.append(str(item["title"]))
            choices += [str(o["label"]) for o in item.get("options") or () if o.get("label")]
        elif kind == "suggestion":
            choices += [str(s["label"]) for s in item.get("suggestions") or () if s.get("label")]
        elif kind == "connect_to_agent":
            handoff = True
    if not texts and not output.get("generic"):
        texts = [str(t) for t in output.get("text") or () if t]
    intents = body.get("intents") or ()
    top = intents[0] if intents else {}
    confidence = top.get("confidence")
    suggestions = tuple(dict.fromkeys(texts + choices))[:max_suggestions]
    context = body.get("context")
    return BotReply(
        messages=tuple(texts),
        intent=top.get("intent"),
        confidence=float(confidence) if confidence is not None else None,
        handoff=handoff,
        suggestions=suggestions,
        state=context if isinstance(context, dict) else None,
    )


class _WatsonBase:
    account: WatsonAccount | WatsonLegacyAccount

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @property
    def _base(self) -> str:
        return (
            f"{service_url(self.account.url)}/v1/workspaces/{quote(self.account.skill_id, safe='')}"
        )

    async def _auth(self) -> dict[str, str]:
        raise NotImplementedError

    async def converse(self, turn: BotTurn) -> BotReply:
        text = flatten(turn.text, TEXT_LIMIT)
        payload: dict[str, Any] = {"input": {"text": text}, "alternate_intents": True}
        if turn.state:
            payload["context"] = turn.state
        body = await call(
            self._session,
            "POST",
            f"{self._base}/message",
            timeout_s=self.account.timeout_seconds,
            describe=describe_error,
            params={"version": self.account.version},
            json=payload,
            headers=await self._auth(),
        )
        return parse_message(body, self.account.max_suggestions)

    async def test_connection(self) -> ConnectionCheck:
        """Credentials (token exchange) and a GET of the skill (workspace)."""
        try:
            await call(
                self._session,
                "GET",
                self._base,
                timeout_s=self.account.timeout_seconds,
                describe=describe_error,
                params={"version": self.account.version},
                headers=await self._auth(),
            )
        except BotError as exc:
            return check_from_error(exc)
        return ConnectionCheck(result=CheckResult.VALID, account_name=self.account.name)


class WatsonEngine(_WatsonBase):
    kind: ClassVar[BotKind] = BotKind.WATSON
    account: WatsonAccount

    def __init__(
        self,
        account: WatsonAccount,
        session: aiohttp.ClientSession,
        tokens: IamTokens | None = None,
    ) -> None:
        super().__init__(session)
        self.account = account
        self._tokens = tokens or IAM_TOKENS

    async def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._tokens.token(self._session, self.account)}"}


class WatsonLegacyEngine(_WatsonBase):
    kind: ClassVar[BotKind] = BotKind.WATSON_LEGACY
    account: WatsonLegacyAccount

    def __init__(self, account: WatsonLegacyAccount, session: aiohttp.ClientSession) -> None:
        super().__init__(session)
        self.account = account

    async def _auth(self) -> dict[str, str]:
        pair = f"{self.account.username}:{self.account.password.get_secret_value()}"
        return {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}
