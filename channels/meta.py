"""What Messenger and the WhatsApp Cloud API share: Meta's webhook security and the Graph API.

Follows developers.facebook.com/docs/graph-api/webhooks/getting-started (GET ``hub.challenge``
handshake, ``X-Hub-Signature-256`` = HMAC-SHA256 of the raw body with the App Secret) and the
Graph API error reference (``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}``). Quirks handled here:

* the signature is checked on the bytes as received, before any JSON is parsed; a missing or
  malformed header fails closed;
* a failed handshake (wrong mode or verify token) answers 403, as Meta expects;
* Graph reports most failures with HTTP 400 whatever they mean, so errors are classified by
  the Graph ``code`` / ``error_subcode`` in the body, not by the HTTP status alone: 190 is a bad
  token, 4/17/32/613/80007/130429/131056 are rate limits, 10/2018278/131047/131026/... are
  permanent refusals;
* every Graph call carries the token as ``Authorization: Bearer`` (never in the URL) plus
  ``appsecret_proof`` so apps with "Require App Secret" enabled work too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp
from pydantic import BaseModel, SecretStr, ValidationError

from channels.accounts import FacebookAccount, WhatsAppAccount
from channels.base import WebhookAnswer, WebhookRequest
from channels.errors import (
    ChannelAuthError,
    ChannelError,
    InvalidSignature,
    MalformedPayload,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
)
from channels.http import DEFAULT_TIMEOUT, call, retry_after
from router.models import ChannelKind

SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_CHALLENGE = 256

# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling,
# /docs/messenger-platform/error-codes, /docs/whatsapp/cloud-api/support/error-codes).
AUTH_CODES = frozenset({0, 102, 104, 190})
FORBIDDEN_CODES = frozenset({3, 131005, 131031, *range(200, 300)})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
PERMANENT_CODES = frozenset({10, 100, 551, 131008, 131009, 131026, 131047, 131051, 131052})
PERMANENT_SUBCODES = frozenset({2018108, 2018109, 2018278, 1545041})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
# Seconds to wait when Graph rate-limits without a Retry-After header.
RATE_LIMIT_WAIT = {130429: 1.0, 131056: 6.0}
DEFAULT_RATE_LIMIT_WAIT = 30.0

M = TypeVar("M", bound=BaseModel)


# -- webhooks -------------------------------------------------------------------------------


def verify_signature(request: WebhookRequest, app_secret: str) -> None:
    """Check ``X-Hub-Signature-256: sha256=<hex>`` over the raw body; fail closed."""
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
    scheme, _, received = header.partition("=")
    if scheme.strip().lower() != "sha256" or not received:
        raise InvalidSignature(f"malformed {SIGNATURE_HEADER} header")
    expected = hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), received.strip().lower().encode()):
        raise InvalidSignature("webhook signature does not match the app secret")


def handshake(request: WebhookRequest, verify_token: str) -> WebhookAnswer | None:
    """Answer Meta's GET verification request; None for anything else (event POSTs)."""
    if request.method != "GET":
        return None
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge", "")
    if mode != "subscribe" or not challenge or len(challenge) > MAX_CHALLENGE:
        raise InvalidSignature("not a webhook verification request", status=403)
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise InvalidSignature("webhook verify token does not match", status=403)
    return WebhookAnswer(status=200, body=challenge, content_type="text/plain")


def load_webhook(model: type[M], body: bytes, what: str) -> M:
    """``body`` as ``model``, parsed and validated in one pass over the raw bytes (half the
    cost of ``json.loads`` and a validation of the result); ``MalformedPayload`` naming
    ``what`` (the product) if it is not JSON or not of that shape."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "json_invalid":
            raise MalformedPayload("webhook body is not valid JSON") from None
        raise MalformedPayload(f"not a {what} webhook: {error['msg']}") from None


def message_id(kind: ChannelKind, account_id: str, provider_id: str) -> str:
    """Our id for an inbound provider message: stable, so a redelivery maps to the same one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{kind.value}:{account_id}:{provider_id}").hex


def from_epoch(value: int | float | str | None, *, millis: bool = False) -> datetime:
    """Provider timestamps (seconds, or milliseconds for Messenger) as aware UTC."""
    try:
        seconds = float(value) / (1000 if millis else 1) if value is not None else None
        if seconds is not None:
            return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return datetime.now(UTC)


# -- Graph API --------------------------------------------------------------------------------


def graph_error(body: Any) -> dict[str, Any] | None:
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else None


def describe_graph_error(body: Any) -> str | None:
    """The provider's own words: message, WhatsApp ``error_data.details``, and the codes."""
    err = graph_error(body)
    if err is None:
        return None
    text = str(err.get("message") or err.get("error_user_msg") or "Graph API error")
    data = err.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    if isinstance(details, str) and details and details not in text:
        text = f"{text}: {details}"
    codes = f"code {err.get('code')}"
    if err.get("error_subcode"):
        codes += f", subcode {err.get('error_subcode')}"
    return f"{text} ({codes})"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def classify(body: Any, fallback: ChannelError) -> ChannelError:
    """The typed error for a Graph error body; ``fallback`` (from the HTTP status) otherwise."""
    err = graph_error(body)
    if err is None:
        return fallback
    code, sub = _int(err.get("code")), _int(err.get("error_subcode"))
    detail = describe_graph_error(body) or str(fallback)
    if code in AUTH_CODES:
        return ChannelAuthError(detail)
    if code in FORBIDDEN_CODES:
        return ChannelAuthError(detail, forbidden=True)
    if code in RATE_LIMIT_CODES:
        wait = (
            fallback.retry_after
            if isinstance(fallback, RateLimited)
            else RATE_LIMIT_WAIT.get(code, DEFAULT_RATE_LIMIT_WAIT)
        )
        return RateLimited(detail, wait)
    if code in PERMANENT_CODES or sub in PERMANENT_SUBCODES:
        return PermanentSendError(detail)
    if code in TRANSIENT_CODES or err.get("is_transient") is True:
        return ProviderUnavailable(detail)
    return fallback


def appsecret_proof(app_secret: str, token: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class Graph:
    """Authenticated calls to one Graph API version with one token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        version: str,
        token: str,
        app_secret: str,
    ) -> None:
        self._session = session
        self._base = f"{base_url.rstrip('/')}/{version}"
        self._token = token
        self._proof = appsecret_proof(app_secret, token)

    def url(self, path: str) -> str:
        return f"{self._base}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Call Graph; returns the JSON body or raises a typed ``ChannelError``."""
        seen: list[Any] = []

        def describe(body: Any) -> str | None:
            seen.append(body)
            return describe_graph_error(body)

        kwargs: dict[str, Any] = {
            "headers": {"Authorization": f"Bearer {self._token}"},
            "params": {**(params or {}), "appsecret_proof": self._proof},
        }
        if json_body is not None:
            kwargs["json"] = json_body
        try:
            _, body, _ = await call(
                self._session, method, self.url(path), describe=describe, **kwargs
            )
        except ChannelError as exc:
            mapped = classify(seen[0] if seen else None, exc)
            if mapped is exc:
                raise
            raise mapped from exc
        if graph_error(body) is not None:  # an error inside a 2xx answer
            raise classify(body, PermanentSendError(describe_graph_error(body) or "Graph error"))
        return body

    async def download(self, url: str) -> tuple[bytes, str]:
        """GET a media URL Graph handed out (same Bearer token), as raw bytes.

        ``channels.http.call`` decodes bodies as JSON / text, so binary content is fetched here
        with the same error mapping.
        """
        if not url.startswith(("https://", "http://")):
            raise PermanentSendError("Graph returned an invalid media URL")
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._session.get(url, headers=headers, timeout=DEFAULT_TIMEOUT) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
                content_type = resp.content_type
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderUnavailable(f"media download failed: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return raw, content_type
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        detail = describe_graph_error(body) or f"media download failed: HTTP {status}"
        fallback: ChannelError
        if status == 429:
            fallback = RateLimited(detail, retry_after(resp_headers))
        elif status in (401, 403):
            fallback = ChannelAuthError(detail, forbidden=status == 403)
        elif status >= 500:
            fallback = ProviderUnavailable(detail)
        else:
            fallback = PermanentSendError(detail)
        raise classify(body, fallback)


# -- adapters ---------------------------------------------------------------------------------

_A = TypeVar("_A", bound=FacebookAccount | WhatsAppAccount)


class MetaAdapter(Generic[_A]):
    """What the Messenger and WhatsApp adapters share: the account, a Graph client with its
    token, and the app's webhook handshake and signature check."""

    def __init__(self, account: _A, session: aiohttp.ClientSession, token: SecretStr) -> None:
        self.account: _A = account
        self.graph = Graph(
            session,
            account.api_base_url,
            account.graph_version,
            token.get_secret_value(),
            account.app_secret.get_secret_value(),
        )

    # -- webhooks -----------------------------------------------------------------------------

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        return handshake(request, self.account.verify_token.get_secret_value())

    def verify(self, request: WebhookRequest) -> None:
        verify_signature(request, self.account.app_secret.get_secret_value())
