"""The consent ledger, a pair's consent state and the blocked numbers, over REST.

- ``GET /api/v1/consent-ledger?number=&party=&channel=&limit=&offset=`` (admins,
  supervisors, API users with the SMS/MMS API privilege): every opt-out / opt-in, newest
  first.
- ``GET /api/v1/consent/{account}/{party}``: the pair's current state, with its ``ETag``;
  ``PUT`` (admins) records an opt-out or opt-in made outside SMS (``{"state":
  "opted_out"|"opted_in", "note"}``); nothing is sent to the customer. With ``If-Match``,
  the pair's state (opt-out, block, latest ledger entry) is compared and the change recorded
  in one store transaction, so a change made in between (a customer's STOP, a block) answers
  412 and nothing is recorded.
- ``GET /api/v1/blocked-numbers``, ``DELETE /api/v1/blocked-numbers/{account}/{party}``
  (admins): the numbers agents blocked, and unblocking one.

The roles are declared in ``router.api_routes``.

``account`` / ``number`` is one of our CPaaS numbers (10-digit, +1 accepted) or a Vonage
integration account id; ``party`` is the customer's number (+1…, 1…, 10-digit all work).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from channels.cpaas import normalize_us_number
from router.api import principal_of
from router.consent import party_id
from router.etag import etag_of, json_with_etag, names_version, precondition_failed, stale
from router.http_errors import error_response
from router.keys import RUNTIME
from router.models import ChannelKind
from router.paging import page_of, paged
from router.runtime import Runtime
from router.store.consent import PairSnapshot
from router.store.named import StaleObject

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


async def resolve_account(rt: Runtime, tenant: str, raw: str) -> tuple[ChannelKind, str] | None:
    """(channel, account) of one of the tenant's SMS numbers / Vonage accounts."""
    try:
        number = normalize_us_number(raw)
    except ValueError:
        number = None
    if number is not None and await rt.store.cpaas.number(tenant, number) is not None:
        return ChannelKind.SMS, number
    account = await rt.store.accounts.get_in(tenant, raw)
    if account is not None and account.type == ChannelKind.VONAGE.value:
        return ChannelKind.VONAGE, account.id
    return None


def _not_found_account(field: str = "account") -> web.Response:
    return error_response(404, "not_found", "no such SMS number or Vonage account", field)


async def consent_ledger(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    number, party = request.query.get("number"), request.query.get("party") or None
    channel: ChannelKind | None = None
    account: str | None = None
    if number:
        found = await _pair_account(rt, who.tenant, number, request.query.get("channel"))
        if found is None:
            return _not_found_account("number")
        channel, account = found
        party = party_id(channel, party) if party else None
    entries, total = await rt.store.consent.ledger(
        who.tenant, channel=channel, account=account, party=party, limit=page.limit,
        offset=page.offset,
    )  # fmt: skip
    items = [e.model_dump(mode="json", exclude={"tenant"}) for e in entries]
    return web.json_response(page.body(items, total))


async def _pair_account(
    rt: Runtime, tenant: str, raw: str, channel: str | None
) -> tuple[ChannelKind, str] | None:
    """The account, resolved; with an explicit ``channel`` also a number or account that is
    gone (its ledger stays)."""
    found = await resolve_account(rt, tenant, raw)
    if found is not None or channel is None:
        return found
    if channel == ChannelKind.SMS.value:
        try:
            return ChannelKind.SMS, normalize_us_number(raw)
        except ValueError:
            return None
    return (ChannelKind.VONAGE, raw) if channel == ChannelKind.VONAGE.value else None


def _iso(at: datetime) -> str:
    """As the ledger entries write times (pydantic's JSON form)."""
    return str(_DATETIME.dump_python(at, mode="json"))


def _state_view(
    channel: ChannelKind, account: str, party: str, pair: PairSnapshot
) -> dict[str, Any]:
    state, last = pair.state, pair.last
    current = state.opted_out or last
    name = "opted_out" if state.opted_out else ("opted_in" if last is not None else "none")
    return {
        "channel": channel.value,
        "account": account,
        "party": party,
        "state": name,
        "since": _iso(current.at) if current else None,
        "keyword": current.keyword if current else None,
        "source": current.source if current else None,
        "blocked": state.blocked is not None,
        "blocked_by": state.blocked.blocked_by if state.blocked else None,
        "blocked_at": _iso(state.blocked.at) if state.blocked else None,
    }


async def get_consent(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    found = await resolve_account(rt, who.tenant, request.match_info["account"])
    if found is None:
        return _not_found_account()
    channel, account = found
    party = party_id(channel, request.match_info["party"])
    pair = await rt.store.consent.snapshot(who.tenant, channel, account, party)
    return json_with_etag(_state_view(channel, account, party, pair))


async def put_consent(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    found = await resolve_account(rt, who.tenant, request.match_info["account"])
    if found is None:
        return _not_found_account()
    try:
        body = json.loads(await request.read())
    except ValueError:
        return error_response(400, "malformed_json", "the body is not valid JSON")
    state = body.get("state") if isinstance(body, dict) else None
    if state not in ("opted_out", "opted_in"):
        return error_response(400, "invalid", "state: opted_out or opted_in", "state")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        return error_response(400, "invalid", "note: text of at most 500 characters", "note")
    channel, account = found
    party = party_id(channel, request.match_info["party"])
    before = await rt.store.consent.snapshot(who.tenant, channel, account, party)
    blocked = precondition_failed(request, etag_of(_state_view(channel, account, party, before)))
    if blocked is not None:
        return blocked
    checked = before if names_version(request) else None
    try:
        changed, _ = await rt.pipeline.consent.admin_change(
            who.tenant, channel, account, party, direction="out" if state == "opted_out" else "in",
            actor=who.subject, note=note, expected=checked,
        )  # fmt: skip
    except StaleObject:
        now = await rt.store.consent.snapshot(who.tenant, channel, account, party)
        return stale("consent state", etag_of(_state_view(channel, account, party, now)))
    after = await rt.store.consent.snapshot(who.tenant, channel, account, party)
    view = _state_view(channel, account, party, after)
    resp = web.json_response({"changed": changed, **view})
    resp.headers["ETag"] = etag_of(view)  # the state's, as GET shows it
    return resp


async def list_blocked(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    records = await rt.store.consent.blocks(who.tenant)
    return paged([r.model_dump(mode="json", exclude={"tenant"}) for r in records], page)


async def unblock(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    raw = request.match_info["account"]
    found = await _pair_account(rt, who.tenant, raw, request.query.get("channel"))
    if found is None:
        return _not_found_account()
    channel, account = found
    party = party_id(channel, request.match_info["party"])
    if not await rt.store.consent.unblock(who.tenant, channel, account, party):
        return error_response(404, "not_found", "this number is not blocked", "party")
    return web.Response(status=204)
