"""Every ``/api/v1`` route and ``/oauth/token``, declared once, grouped by module.

``router.app`` registers each group with ``openapi.register`` (one call per group), which
adds it to the aiohttp router and to the OpenAPI document; see ``router/openapi.py``.
"""

from __future__ import annotations

from bots.accounts import BotAccount
from channels.accounts import IntegrationAccount
from channels.base import ConnectionCheck
from channels.cpaas import AlertRecipient, CpaasNumber, CpaasPlatform
from router import (
    accounts_api,
    api,
    bots_api,
    consent_api,
    cpaas_api,
    event_subscriptions_api,
    numbers_api,
    oauth,
    openapi,
    sms_api,
    streams_api,
)
from router import api_models as m
from router.models import QueueStats, Session
from router.openapi import ApiRoute, QueryParam
from router.openapi import ApiRoute as R

_TYPE = QueryParam("type", "Only accounts of this type")
_LIMIT = QueryParam("limit", "Page size", "integer")
_OFFSET = QueryParam("offset", "Items to skip", "integer")
_CHANNEL = QueryParam(
    "channel", "The channel, to name a number or account that is gone", enum=("sms", "vonage")
)


def _model(union: object, name: str) -> type[m.ApiModel]:
    """A request model for an ``Annotated`` union of account types (as the handler parses it)."""
    from pydantic import RootModel

    return type(name, (RootModel[union],), {"__doc__": f"{name} (by its type)"})  # type: ignore[valid-type]


IntegrationAccountInput = _model(IntegrationAccount, "IntegrationAccountInput")
BotAccountInput = _model(BotAccount, "BotAccountInput")

AUTH: tuple[ApiRoute, ...] = (
    R("POST", "/oauth/token", oauth.token, "Issue a bearer token (password or client "
      "credentials grant; scope = tenant id)", "auth", m.TokenResponse, request=m.TokenRequest,
      form=True, errors=(400, 401, 415), public=True),
    R("GET", "/api/v1/openapi.json", openapi.openapi_json, "This OpenAPI 3.1 document", "auth",
      m.OpenApiDocument, public=True),
)  # fmt: skip

CORE: tuple[ApiRoute, ...] = (
    R("GET", "/api/v1/queues/{queue}/status", api.queue_status, "Live statistics of one queue",
      "queues", QueueStats, errors=(404,)),
    R("GET", "/api/v1/sessions/{session_id}", api.get_session,
      "A session with its full history (supervisors, admins, API users)", "sessions", Session,
      errors=(403, 404)),
)  # fmt: skip

_ACC = "/api/v1/integration-accounts"
ACCOUNTS: tuple[ApiRoute, ...] = (
    R("GET", _ACC, accounts_api.list_accounts, "List integration accounts",
      "integration accounts", m.IntegrationAccountPage, query=(_TYPE,), errors=(403,)),
    R("POST", _ACC, accounts_api.create_account, "Create an integration account",
      "integration accounts", m.IntegrationAccountView, 201, IntegrationAccountInput,
      errors=(400, 403, 409, 415)),
    R("POST", _ACC + "/generate-token", accounts_api.generate_token,
      "Generate a random token to paste at the provider", "integration accounts",
      m.GeneratedToken),
    R("GET", _ACC + "/{account_id}", accounts_api.get_account, "One integration account",
      "integration accounts", m.IntegrationAccountView, errors=(403, 404)),
    R("PATCH", _ACC + "/{account_id}", accounts_api.update_account,
      "Change an integration account (omitted secrets are kept)", "integration accounts",
      m.IntegrationAccountView, request=IntegrationAccountInput, partial=True,
      errors=(400, 403, 404, 415)),
    R("PUT", _ACC + "/{account_id}", accounts_api.update_account,
      "Replace an integration account (omitted secrets are kept)", "integration accounts",
      m.IntegrationAccountView, request=IntegrationAccountInput, partial=True,
      errors=(400, 403, 404, 415), name="replace_account"),
    R("DELETE", _ACC + "/{account_id}", accounts_api.delete_account,
      "Delete an integration account", "integration accounts", None, 204, errors=(403, 404)),
    R("POST", _ACC + "/{account_id}/test-connection", accounts_api.test_connection,
      "Test Connection: ask the provider", "integration accounts", ConnectionCheck,
      errors=(403, 404)),
    R("POST", _ACC + "/{account_id}/set-webhook", accounts_api.set_webhook,
      "Set Webhook: register this server's webhook at the provider", "integration accounts",
      m.SetWebhookResult, errors=(400, 403, 404)),
)  # fmt: skip

_BOT = "/api/v1/bot-accounts"
BOTS: tuple[ApiRoute, ...] = (
    R("GET", _BOT, bots_api.list_accounts, "List bot accounts", "bot accounts",
      m.BotAccountPage, query=(_TYPE,), errors=(403,)),
    R("POST", _BOT, bots_api.create_account, "Create a bot account", "bot accounts",
      m.BotAccountView, 201, BotAccountInput, errors=(400, 403, 409, 415)),
    R("GET", _BOT + "/{account_id}", bots_api.get_account, "One bot account", "bot accounts",
      m.BotAccountView, errors=(403, 404)),
    R("PATCH", _BOT + "/{account_id}", bots_api.update_account,
      "Change a bot account (omitted secrets are kept)", "bot accounts", m.BotAccountView,
      request=BotAccountInput, partial=True, errors=(400, 403, 404, 415)),
    R("PUT", _BOT + "/{account_id}", bots_api.update_account,
      "Replace a bot account (omitted secrets are kept)", "bot accounts", m.BotAccountView,
      request=BotAccountInput, partial=True, errors=(400, 403, 404, 415),
      name="replace_account"),
    R("DELETE", _BOT + "/{account_id}", bots_api.delete_account, "Delete a bot account",
      "bot accounts", None, 204, errors=(403, 404)),
    R("POST", _BOT + "/{account_id}/test-connection", bots_api.test_connection,
      "Test Connection: ask the bot engine", "bot accounts", ConnectionCheck,
      errors=(403, 404)),
)  # fmt: skip

STREAMS: tuple[ApiRoute, ...] = (
    R("GET", "/api/v1/media-streams", streams_api.list_streams,
      "List media streams with open_now / next_open", "media streams", m.StreamPage,
      errors=(403,)),
    R("GET", "/api/v1/media-streams/{stream_id}", streams_api.get_stream, "One media stream",
      "media streams", m.StreamView, errors=(403, 404)),
)  # fmt: skip

_PLAT, _REC = "/api/v1/cpaas-platforms", "/api/v1/alert-recipients"
CPAAS: tuple[ApiRoute, ...] = (
    R("GET", _PLAT, cpaas_api.list_platforms, "List CPaaS platforms", "cpaas",
      m.CpaasPlatformPage, errors=(403,)),
    R("POST", _PLAT, cpaas_api.create_platform, "Create a CPaaS platform (checks the "
      "credentials at the provider)", "cpaas", m.CpaasPlatformView, 201, CpaasPlatform,
      errors=(400, 403, 409, 415, 502)),
    R("GET", _PLAT + "/{platform_id}", cpaas_api.get_platform, "One CPaaS platform", "cpaas",
      m.CpaasPlatformView, errors=(403, 404)),
    R("PATCH", _PLAT + "/{platform_id}", cpaas_api.update_platform,
      "Change a CPaaS platform (omitted secrets are kept)", "cpaas", m.CpaasPlatformView,
      request=CpaasPlatform, partial=True, errors=(400, 403, 404, 409, 415, 502)),
    R("DELETE", _PLAT + "/{platform_id}", cpaas_api.delete_platform,
      "Delete a CPaaS platform", "cpaas", None, 204, errors=(403, 404, 409)),
    R("GET", _REC, cpaas_api.list_recipients, "List alert recipients", "cpaas",
      m.AlertRecipientPage, errors=(403,)),
    R("POST", _REC, cpaas_api.create_recipient, "Add an alert recipient", "cpaas",
      AlertRecipient, 201, AlertRecipient, errors=(400, 403, 409, 415)),
    R("PATCH", _REC + "/{recipient_id}", cpaas_api.update_recipient,
      "Change an alert recipient", "cpaas", AlertRecipient, request=AlertRecipient,
      partial=True, errors=(400, 403, 404, 409, 415)),
    R("DELETE", _REC + "/{recipient_id}", cpaas_api.delete_recipient,
      "Remove an alert recipient", "cpaas", None, 204, errors=(403, 404, 409)),
)  # fmt: skip

_NUM = "/api/v1/numbers"
NUMBERS: tuple[ApiRoute, ...] = (
    R("GET", _NUM, numbers_api.list_numbers, "List and search CPaaS numbers", "cpaas numbers",
      m.NumberPage, query=(QueryParam("search", "Number, user or stream (* wildcards)"),
                           _LIMIT, _OFFSET), errors=(400, 403)),
    R("POST", _NUM, numbers_api.create_number, "Provision a number at the provider",
      "cpaas numbers", m.NumberView, 201, CpaasNumber, errors=(400, 403, 409, 415, 502)),
    R("GET", _NUM + "/{number}", numbers_api.get_number, "One number", "cpaas numbers",
      m.NumberView, errors=(403, 404)),
    R("PATCH", _NUM + "/{number}", numbers_api.update_number, "Change a number",
      "cpaas numbers", m.NumberView, request=CpaasNumber, partial=True,
      errors=(400, 403, 404, 409, 415, 502)),
    R("DELETE", _NUM + "/{number}", numbers_api.delete_number, "Release a number",
      "cpaas numbers", None, 204, errors=(403, 404, 502)),
    R("POST", _NUM + "/{number}/reset-opt-in", numbers_api.reset_opt_in,
      "Reset the number's opt-in state", "cpaas numbers", m.NumberView, errors=(403, 404)),
    R("DELETE", _NUM + "/{number}/messages", numbers_api.delete_messages,
      "Delete the number's messages", "cpaas numbers", m.DeletedMessages, errors=(403, 404)),
)  # fmt: skip

SMS: tuple[ApiRoute, ...] = (
    R("POST", "/api/v1/sms/messages", sms_api.send_message,
      "Send an SMS/MMS (Use SMS/MMS API privilege)", "sms", m.MessageView, 202, sms_api.SmsSend,
      errors=(400, 403, 404, 409)),
    R("GET", "/api/v1/sms/messages/{message_id}", sms_api.get_message,
      "One sent or received message with its status", "sms", m.MessageView,
      errors=(403, 404)),
    R("GET", "/api/v1/consent-ledger", consent_api.consent_ledger,
      "The consent ledger: every opt-out and opt-in, newest first", "consent", m.LedgerPage,
      query=(_LIMIT, _OFFSET, QueryParam("number", "Our number or account"),
             QueryParam("party", "The customer's number"), _CHANNEL), errors=(400, 403, 404)),
    R("GET", "/api/v1/consent/{account}/{party}", consent_api.get_consent,
      "The consent state of one pair", "consent", m.ConsentState, errors=(403, 404)),
    R("PUT", "/api/v1/consent/{account}/{party}", consent_api.put_consent,
      "Opt a pair out or back in (tenant admins)", "consent", m.ConsentUpdate,
      request=m.ConsentChangeRequest, errors=(400, 403, 404)),
    R("GET", "/api/v1/blocked-numbers", consent_api.list_blocked, "Numbers blocked by agents",
      "consent", m.BlockPage, errors=(403,)),
    R("DELETE", "/api/v1/blocked-numbers/{account}/{party}", consent_api.unblock,
      "Unblock a number", "consent", None, 204, query=(_CHANNEL,), errors=(403, 404)),
)  # fmt: skip

_SUB = event_subscriptions_api.PATH
EVENTS: tuple[ApiRoute, ...] = (
    R("GET", _SUB, event_subscriptions_api.list_subscriptions, "List event-webhook "
      "subscriptions", "event subscriptions", m.SubscriptionPage, errors=(403,)),
    R("POST", _SUB, event_subscriptions_api.create_subscription, "Subscribe a URL to events "
      "(the signing secret is returned once)", "event subscriptions", m.SubscriptionCreated,
      201, event_subscriptions_api.SubscriptionInput, errors=(400, 403, 415)),
    R("GET", _SUB + "/{sub_id}", event_subscriptions_api.get_subscription,
      "One event subscription", "event subscriptions", m.SubscriptionView, errors=(403, 404)),
    R("PATCH", _SUB + "/{sub_id}", event_subscriptions_api.update_subscription,
      "Change an event subscription (a new secret rotates it)", "event subscriptions",
      m.SubscriptionView, request=event_subscriptions_api.SubscriptionInput, partial=True,
      errors=(400, 403, 404, 415)),
    R("DELETE", _SUB + "/{sub_id}", event_subscriptions_api.delete_subscription,
      "Delete an event subscription", "event subscriptions", None, 204, errors=(403, 404)),
    R("GET", _SUB + "/{sub_id}/deliveries", event_subscriptions_api.list_deliveries,
      "The subscription's delivery log", "event subscriptions", m.DeliveryPage,
      errors=(403, 404)),
)  # fmt: skip
