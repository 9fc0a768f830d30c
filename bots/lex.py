"""AWS Lex engines: V2 RecognizeText and, for legacy bots, V1 PostText.

Requests are signed with botocore's SigV4 signer (service ``lex``; pure CPU, no network) and
sent with aiohttp; no SDK client ever runs on the event loop. The Lex session state (V2
``sessionState``, V1 ``sessionAttributes``) is returned as the reply's ``state`` and sent back
on the conversation's next turn. Engines only report intent and confidence: hand-off decisions
belong to the bot modes.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bots.accounts import LexAccount, LexV1Account
from bots.base import BotKind, BotReply, BotTurn
from bots.errors import BotError
from bots.http import call, check_from_error, flatten
from channels.base import CheckResult, ConnectionCheck

TEXT_LIMIT = 1024
_SESSION_BAD = re.compile(r"[^0-9a-zA-Z._:-]")


def session_id(conversation_id: str) -> str:
    """A Lex session/user id (2 to 100 of ``[0-9a-zA-Z._:-]``) for a conversation.

    Valid ids are used as they are; anything else keeps its valid characters and gets a short
    hash of the original, so two conversations never share a Lex session."""
    if _SESSION_BAD.search(conversation_id) is None and 2 <= len(conversation_id) <= 100:
        return conversation_id
    digest = hashlib.sha256(conversation_id.encode()).hexdigest()[:16]
    return f"{_SESSION_BAD.sub('', conversation_id)[:83]}-{digest}"


def sign(
    method: str, url: str, body: bytes, *, access_key: str, secret_key: str, region: str
) -> dict[str, str]:
    """The headers of a SigV4-signed (service ``lex``) JSON request."""
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(access_key, secret_key), "lex", region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def describe_error(body: Any, headers: Mapping[str, str]) -> str | None:
    kind = headers.get("x-amzn-ErrorType", "").split(":")[0]
    message = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message")
    if kind and message:
        return f"{kind}: {message}"
    return message or kind or None


def _text(turn: BotTurn) -> str:
    text = flatten(turn.text, TEXT_LIMIT)
    if not text:
        raise BotError("nothing to send to the bot (empty message)")
    return text


class _LexBase:
    account: LexAccount | LexV1Account

    def __init__(self, account: LexAccount | LexV1Account, session: aiohttp.ClientSession):
        self.account = account
        self._session = session

    async def _post(self, url: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = sign(
            "POST",
            url,
            body,
            access_key=self.account.access_key,
            secret_key=self.account.secret_key.get_secret_value(),
            region=self.account.region,
        )
        return await call(
            self._session,
            "POST",
            url,
            timeout_s=self.account.timeout_seconds,
            describe=describe_error,
            data=body,
            headers=headers,
        )

    async def converse(self, turn: BotTurn) -> BotReply:
        raise NotImplementedError

    async def test_connection(self) -> ConnectionCheck:
        """One real call with "hello" on a throwaway session (one API call against the cap
        when made through ``QuotaLimitedEngine``)."""
        turn = BotTurn(conversation_id=f"switchboard-test-{secrets.token_hex(8)}", text="hello")
        try:
            await self.converse(turn)
        except BotError as exc:
            return check_from_error(exc)
        return ConnectionCheck(result=CheckResult.VALID, account_name=self.account.name)


class LexEngine(_LexBase):
    """AWS Lex V2 RecognizeText."""

    kind: ClassVar[BotKind] = BotKind.LEX
    account: LexAccount

    def url(self, conversation_id: str) -> str:
        a = self.account
        return (
            f"{a.endpoint}/bots/{quote(a.bot_id, safe='')}/botAliases/"
            f"{quote(a.bot_alias_id, safe='')}/botLocales/{quote(a.locale_id, safe='')}"
            f"/sessions/{session_id(conversation_id)}/text"
        )

    async def converse(self, turn: BotTurn) -> BotReply:
        payload: dict[str, Any] = {"text": _text(turn)}
        if turn.state:
            payload["sessionState"] = turn.state
        body = await self._post(self.url(turn.conversation_id), payload)
        return parse_v2(body)


def parse_v2(body: Any) -> BotReply:
    if not isinstance(body, dict):
        raise BotError("Lex answered with an unexpected body")
    messages: list[str] = []
    for message in body.get("messages") or ():
        kind = message.get("contentType")
        if kind in ("PlainText", "SSML") and message.get("content"):
            messages.append(str(message["content"]))
        elif kind == "ImageResponseCard":
            title = (message.get("imageResponseCard") or {}).get("title")
            if title:
                messages.append(str(title))
    state = body.get("sessionState")
    interpretations = body.get("interpretations") or ()
    top = interpretations[0] if interpretations else {}
    intent = (top.get("intent") or {}).get("name") or ((state or {}).get("intent") or {}).get(
        "name"
    )
    score = (top.get("nluConfidence") or {}).get("score")
    return BotReply(
        messages=tuple(messages),
        intent=intent,
        confidence=float(score) if score is not None else None,
        suggestions=tuple(messages),
        state=state if isinstance(state, dict) else None,
    )


class LexV1Engine(_LexBase):
    """AWS Lex V1 PostText (AWS ended V1 on 15 Sep 2025: legacy configurations only)."""

    kind: ClassVar[BotKind] = BotKind.LEX_V1
    account: LexV1Account

    def url(self, conversation_id: str) -> str:
        a = self.account
        return (
            f"{a.endpoint}/bot/{quote(a.bot_name, safe='')}/alias/{quote(a.bot_alias, safe='')}"
            f"/user/{session_id(conversation_id)}/text"
        )

    async def converse(self, turn: BotTurn) -> BotReply:
        payload: dict[str, Any] = {"inputText": _text(turn)}
        if turn.state:
            payload["sessionAttributes"] = turn.state
        body = await self._post(self.url(turn.conversation_id), payload)
        if not isinstance(body, dict):
            raise BotError("Lex answered with an unexpected body")
        message = body.get("message")
        messages = (str(message),) if message else ()
        score = (body.get("nluIntentConfidence") or {}).get("score")
        attributes = body.get("sessionAttributes")
        return BotReply(
            messages=messages,
            intent=body.get("intentName"),
            confidence=float(score) if score is not None else None,
            suggestions=messages,
            state=attributes if isinstance(attributes, dict) else None,
        )
