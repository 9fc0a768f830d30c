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
    adapter_api,
    api,
    audit,
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
from router import people_api as people
from router import people_models as pm
from router.audit import AuditPage
from router.models import AgentStatus, Message, QueueStats, Session
from router.openapi import ApiRoute, QueryParam
from router.openapi import ApiRoute as R
from router.paging import MAX_LIMIT, MAX_OFFSET
from router.transcripts import SessionPage, Transcript

_LIMIT = QueryParam("limit", "Page size", "integer", minimum=1, maximum=MAX_LIMIT, default=50)
_OFFSET = QueryParam("offset", "Items to skip", "integer", minimum=0, maximum=MAX_OFFSET, default=0)
_PAGE = (_LIMIT, _OFFSET)
# Who may call a route (``ApiRoute.roles``, enforced by ``openapi.register``).
_ADMINS = ("tenant_admin", "system_admin")
_SUPERVISORS = (*_ADMINS, "supervisor")
_EVERYONE = (*_SUPERVISORS, "agent", "api")
_SMS_API = "use_sms_api"  # the role privilege that admits API users to the SMS/MMS API
_READERS = (*_SUPERVISORS, "api")
_SESSION_QUERY = (
    QueryParam("state", "open or closed", enum=("open", "closed")),
    QueryParam("queue", "Sessions that were in this queue"),
    QueryParam("stream", "Media stream id"),
    QueryParam("agent", "Sessions that were assigned to this agent"),
    QueryParam("channel", "Channel (webchat, sms, ...)"),
    QueryParam("party", "The remote party's id on its channel (number, user id)"),
    QueryParam("created_from", "Opened at or after (ISO 8601)"),
    QueryParam("created_to", "Opened at or before (ISO 8601)"),
    QueryParam("q", "Text the messages contain (case-insensitive)"),
    *_PAGE,
)
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
      "queues", QueueStats, errors=(403, 404), roles=_EVERYONE),
    R("GET", "/api/v1/sessions/{session_id}", api.get_session,
      "A session with its full history (supervisors, admins, API users)", "sessions", Session,
      errors=(403, 404), roles=_READERS),
    R("GET", "/api/v1/sessions", api.list_sessions, "Search sessions, newest first (filters "
      "combine; q searches message texts; supervisors, admins, API users)", "sessions",
      SessionPage, query=_SESSION_QUERY, errors=(400, 403), roles=_READERS),
    R("GET", "/api/v1/sessions/{session_id}/transcript", api.session_transcript,
      "A session's messages in order (format=text: plain text)", "sessions", Transcript,
      query=(QueryParam("format", "json (default) or text", enum=("json", "text")),),
      errors=(400, 403, 404), roles=_READERS),
    R("GET", "/api/v1/audit-log", audit.audit_log, "The audit log: successful changes, "
      "newest first (tenant admins; a system admin's scope=system token reads the system "
      "log)", "audit log", AuditPage, query=(*audit.QUERY, *_PAGE), errors=(400, 403),
      roles=_ADMINS),
)  # fmt: skip

_ACC = "/api/v1/integration-accounts"
_ACC_TYPE = QueryParam("type", "Only accounts of this type", enum=accounts_api.TYPES)
ACCOUNTS: tuple[ApiRoute, ...] = (
    R("GET", _ACC, accounts_api.list_accounts, "List integration accounts",
      "integration accounts", m.IntegrationAccountPage, query=(_ACC_TYPE, *_PAGE),
      errors=(400, 403), roles=_ADMINS),
    R("POST", _ACC, accounts_api.create_account, "Create an integration account",
      "integration accounts", m.IntegrationAccountView, 201, IntegrationAccountInput,
      errors=(400, 403, 409, 415), roles=_ADMINS),
    R("POST", _ACC + "/generate-token", accounts_api.generate_token,
      "Generate a random token to paste at the provider", "integration accounts",
      m.GeneratedToken, errors=(403,), roles=_ADMINS),
    R("GET", _ACC + "/{account_id}", accounts_api.get_account, "One integration account",
      "integration accounts", m.IntegrationAccountView, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _ACC + "/{account_id}", accounts_api.update_account,
      "Change an integration account (omitted secrets are kept)", "integration accounts",
      m.IntegrationAccountView, request=IntegrationAccountInput, partial=True,
      errors=(400, 403, 404, 409, 412, 415), roles=_ADMINS),
    R("PUT", _ACC + "/{account_id}", accounts_api.update_account,
      "Replace an integration account (omitted secrets are kept)", "integration accounts",
      m.IntegrationAccountView, request=IntegrationAccountInput, partial=True,
      errors=(400, 403, 404, 409, 412, 415), name="replace_account", roles=_ADMINS),
    R("DELETE", _ACC + "/{account_id}", accounts_api.delete_account,
      "Delete an integration account", "integration accounts", None, 204, errors=(403, 404),
      roles=_ADMINS),
    R("POST", _ACC + "/{account_id}/test-connection", accounts_api.test_connection,
      "Test Connection: ask the provider", "integration accounts", ConnectionCheck,
      errors=(403, 404), roles=_ADMINS),
    R("POST", _ACC + "/{account_id}/set-webhook", accounts_api.set_webhook,
      "Set Webhook: register this server's webhook at the provider", "integration accounts",
      m.SetWebhookResult, errors=(400, 403, 404, 415), roles=_ADMINS),
)  # fmt: skip

_BOT = "/api/v1/bot-accounts"
_BOT_TYPE = QueryParam("type", "Only accounts of this type", enum=bots_api.TYPES)
BOTS: tuple[ApiRoute, ...] = (
    R("GET", _BOT, bots_api.list_accounts, "List bot accounts", "bot accounts",
      m.BotAccountPage, query=(_BOT_TYPE, *_PAGE), errors=(400, 403), roles=_ADMINS),
    R("POST", _BOT, bots_api.create_account, "Create a bot account", "bot accounts",
      m.BotAccountView, 201, BotAccountInput, errors=(400, 403, 409, 415), roles=_ADMINS),
    R("GET", _BOT + "/{account_id}", bots_api.get_account, "One bot account", "bot accounts",
      m.BotAccountView, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _BOT + "/{account_id}", bots_api.update_account,
      "Change a bot account (omitted secrets are kept)", "bot accounts", m.BotAccountView,
      request=BotAccountInput, partial=True, errors=(400, 403, 404, 409, 412, 415),
      roles=_ADMINS),
    R("PUT", _BOT + "/{account_id}", bots_api.update_account,
      "Replace a bot account (omitted secrets are kept)", "bot accounts", m.BotAccountView,
      request=BotAccountInput, partial=True, errors=(400, 403, 404, 409, 412, 415),
      name="replace_account", roles=_ADMINS),
    R("DELETE", _BOT + "/{account_id}", bots_api.delete_account, "Delete a bot account",
      "bot accounts", None, 204, errors=(403, 404), roles=_ADMINS),
    R("POST", _BOT + "/{account_id}/test-connection", bots_api.test_connection,
      "Test Connection: ask the bot engine", "bot accounts", ConnectionCheck,
      errors=(403, 404), roles=_ADMINS),
)  # fmt: skip

_STREAM = "/api/v1/media-streams/{stream_id}"
STREAMS: tuple[ApiRoute, ...] = (
    R("GET", "/api/v1/media-streams", streams_api.list_streams,
      "List media streams with open_now / next_open", "media streams", m.StreamPage,
      query=_PAGE, errors=(400, 403), roles=_SUPERVISORS),
    R("POST", "/api/v1/media-streams", streams_api.create_stream,
      "Create a media stream (validated as an edit is)", "media streams", m.StreamView, 201,
      streams_api.StreamCreateInput, errors=(400, 403, 409, 415), roles=_ADMINS),
    R("GET", _STREAM, streams_api.get_stream, "One media stream (with its ETag)",
      "media streams", m.StreamView, errors=(403, 404), roles=_SUPERVISORS),
    R("PUT", _STREAM, streams_api.update_stream, "Replace a media stream's settings "
      "(If-Match: its ETag)", "media streams", m.StreamView, request=streams_api.StreamInput,
      errors=(400, 403, 404, 412, 415), roles=_ADMINS, name="replace_stream"),
    R("PATCH", _STREAM, streams_api.update_stream, "Change a media stream's settings "
      "(If-Match: its ETag)", "media streams", m.StreamView, request=streams_api.StreamInput,
      partial=True, errors=(400, 403, 404, 412, 415), roles=_ADMINS),
    R("DELETE", _STREAM, streams_api.delete_stream, "Delete a media stream (409 while "
      "conversations of it are open or an account or number routes to it; If-Match: its "
      "ETag)", "media streams", None, 204, errors=(403, 404, 409, 412), roles=_ADMINS),
    R("POST", _STREAM + "/reply-preview", streams_api.reply_preview,
      "Render the initial and after-hours replies with sample values", "media streams",
      streams_api.ReplyPreview, request=streams_api.ReplyPreviewRequest,
      errors=(400, 403, 404, 415), roles=_ADMINS),
)  # fmt: skip

_PLAT, _REC = "/api/v1/cpaas-platforms", "/api/v1/alert-recipients"
CPAAS: tuple[ApiRoute, ...] = (
    R("GET", _PLAT, cpaas_api.list_platforms, "List CPaaS platforms", "cpaas",
      m.CpaasPlatformPage, query=_PAGE, errors=(400, 403), roles=_ADMINS),
    R("POST", _PLAT, cpaas_api.create_platform, "Create a CPaaS platform (checks the "
      "credentials at the provider)", "cpaas", m.CpaasPlatformView, 201, CpaasPlatform,
      errors=(400, 403, 409, 415, 502), roles=_ADMINS),
    R("GET", _PLAT + "/{platform_id}", cpaas_api.get_platform, "One CPaaS platform", "cpaas",
      m.CpaasPlatformView, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _PLAT + "/{platform_id}", cpaas_api.update_platform,
      "Change a CPaaS platform (omitted secrets are kept)", "cpaas", m.CpaasPlatformView,
      request=CpaasPlatform, partial=True, errors=(400, 403, 404, 409, 412, 415, 502),
      roles=_ADMINS),
    R("DELETE", _PLAT + "/{platform_id}", cpaas_api.delete_platform,
      "Delete a CPaaS platform", "cpaas", None, 204, errors=(403, 404, 409), roles=_ADMINS),
    R("GET", _REC, cpaas_api.list_recipients, "List alert recipients", "cpaas",
      m.AlertRecipientPage, query=_PAGE, errors=(400, 403), roles=_ADMINS),
    R("POST", _REC, cpaas_api.create_recipient, "Add an alert recipient", "cpaas",
      AlertRecipient, 201, AlertRecipient, errors=(400, 403, 409, 415), roles=_ADMINS),
    R("GET", _REC + "/{recipient_id}", cpaas_api.get_recipient, "One alert recipient",
      "cpaas", AlertRecipient, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _REC + "/{recipient_id}", cpaas_api.update_recipient,
      "Change an alert recipient", "cpaas", AlertRecipient, request=AlertRecipient,
      partial=True, errors=(400, 403, 404, 409, 412, 415), roles=_ADMINS),
    R("DELETE", _REC + "/{recipient_id}", cpaas_api.delete_recipient,
      "Remove an alert recipient", "cpaas", None, 204, errors=(403, 404, 409), roles=_ADMINS),
)  # fmt: skip

_NUM = "/api/v1/numbers"
NUMBERS: tuple[ApiRoute, ...] = (
    R("GET", _NUM, numbers_api.list_numbers, "List and search CPaaS numbers", "cpaas numbers",
      m.NumberPage, query=(QueryParam("search", "Number, user or stream (* wildcards)"),
                           *_PAGE), errors=(400, 403), roles=_ADMINS),
    R("POST", _NUM, numbers_api.create_number, "Provision a number at the provider",
      "cpaas numbers", m.NumberView, 201, CpaasNumber, errors=(400, 403, 409, 415, 502),
      roles=_ADMINS),
    R("GET", _NUM + "/{number}", numbers_api.get_number, "One number", "cpaas numbers",
      m.NumberView, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _NUM + "/{number}", numbers_api.update_number, "Change a number",
      "cpaas numbers", m.NumberView, request=CpaasNumber, partial=True,
      errors=(400, 403, 404, 409, 412, 415, 502), roles=_ADMINS),
    R("DELETE", _NUM + "/{number}", numbers_api.delete_number, "Release a number",
      "cpaas numbers", None, 204, errors=(403, 404, 502), roles=_ADMINS),
    R("POST", _NUM + "/{number}/reset-opt-in", numbers_api.reset_opt_in,
      "Reset the number's opt-in state", "cpaas numbers", m.NumberView,
      errors=(403, 404, 409), roles=_ADMINS),
    R("DELETE", _NUM + "/{number}/messages", numbers_api.delete_messages,
      "Delete the number's messages", "cpaas numbers", m.DeletedMessages, errors=(403, 404),
      roles=_ADMINS),
)  # fmt: skip

SMS: tuple[ApiRoute, ...] = (
    R("POST", "/api/v1/sms/messages", sms_api.send_message,
      "Send an SMS/MMS (Use SMS/MMS API privilege)", "sms", m.MessageView, 202, sms_api.SmsSend,
      errors=(400, 403, 404, 409), roles=(), privilege=_SMS_API),
    R("GET", "/api/v1/sms/messages/{message_id}", sms_api.get_message,
      "One sent or received message with its status", "sms", m.MessageView,
      errors=(403, 404), roles=(), privilege=_SMS_API),
    R("GET", "/api/v1/consent-ledger", consent_api.consent_ledger,
      "The consent ledger: every opt-out and opt-in, newest first", "consent", m.LedgerPage,
      query=(*_PAGE, QueryParam("number", "Our number or account"),
             QueryParam("party", "The customer's number"), _CHANNEL), errors=(400, 403, 404),
      roles=_SUPERVISORS, privilege=_SMS_API),
    R("GET", "/api/v1/consent/{account}/{party}", consent_api.get_consent,
      "The consent state of one pair", "consent", m.ConsentState, errors=(403, 404),
      roles=_SUPERVISORS, privilege=_SMS_API),
    R("PUT", "/api/v1/consent/{account}/{party}", consent_api.put_consent,
      "Opt a pair out or back in (admins)", "consent", m.ConsentUpdate,
      request=m.ConsentChangeRequest, errors=(400, 403, 404, 412), roles=_ADMINS),
    R("GET", "/api/v1/blocked-numbers", consent_api.list_blocked, "Numbers blocked by agents",
      "consent", m.BlockPage, query=_PAGE, errors=(400, 403), roles=_ADMINS),
    R("DELETE", "/api/v1/blocked-numbers/{account}/{party}", consent_api.unblock,
      "Unblock a number", "consent", None, 204, query=(_CHANNEL,), errors=(403, 404),
      roles=_ADMINS),
)  # fmt: skip

_SUB = event_subscriptions_api.PATH
EVENTS: tuple[ApiRoute, ...] = (
    R("GET", _SUB, event_subscriptions_api.list_subscriptions, "List event-webhook "
      "subscriptions", "event subscriptions", m.SubscriptionPage, query=_PAGE,
      errors=(400, 403), roles=_ADMINS),
    R("POST", _SUB, event_subscriptions_api.create_subscription, "Subscribe a URL to events "
      "(the signing secret is returned once)", "event subscriptions", m.SubscriptionCreated,
      201, event_subscriptions_api.SubscriptionInput, errors=(400, 403, 415), roles=_ADMINS),
    R("GET", _SUB + "/{sub_id}", event_subscriptions_api.get_subscription,
      "One event subscription", "event subscriptions", m.SubscriptionView, errors=(403, 404),
      roles=_ADMINS),
    R("PATCH", _SUB + "/{sub_id}", event_subscriptions_api.update_subscription,
      "Change an event subscription (a new secret rotates it)", "event subscriptions",
      m.SubscriptionView, request=event_subscriptions_api.SubscriptionInput, partial=True,
      errors=(400, 403, 404, 412, 415), roles=_ADMINS),
    R("DELETE", _SUB + "/{sub_id}", event_subscriptions_api.delete_subscription,
      "Delete an event subscription", "event subscriptions", None, 204, errors=(403, 404),
      roles=_ADMINS),
    R("GET", _SUB + "/{sub_id}/deliveries", event_subscriptions_api.list_deliveries,
      "The subscription's delivery log", "event subscriptions", m.DeliveryPage, query=_PAGE,
      errors=(400, 403, 404), roles=_ADMINS),
)  # fmt: skip

_RA, _WC = adapter_api.PATH, adapter_api.PATH + "/webchat/sessions"
_INTEGRATORS = ("api", *_ADMINS)
# The routing adapter's commands (docs/routing-adapter.md).
ROUTING: tuple[ApiRoute, ...] = (
    R("POST", _RA + "/messages", adapter_api.route_message, "Route Message: route a message to "
      "an agent through an entry point or a queue (the entry point wins)", "routing adapter",
      adapter_api.RoutedMessage, 202, adapter_api.RouteMessageInput,
      errors=(400, 403, 415, 429, 503), roles=_INTEGRATORS),
    R("PUT", "/api/v1/agents/{agent_id}/state", adapter_api.set_agent_state,
      "Set Agent Ready / Not Ready (with one of the tenant's reasons)", "routing adapter",
      AgentStatus, request=adapter_api.AgentStateInput, errors=(400, 403, 404, 409, 415),
      roles=_READERS),
    R("POST", _WC, adapter_api.request_web_chat, "Request an agent for a web chat session",
      "routing adapter", adapter_api.RoutedMessage, 202, adapter_api.WebChatRequestInput,
      errors=(400, 403, 415, 429, 503), roles=_INTEGRATORS),
    R("POST", _WC + "/{session_id}/accept", adapter_api.accept_web_chat,
      "Web chat response: the offered agent accepts", "routing adapter", Session,
      request=adapter_api.AgentAnswer, errors=(400, 403, 404, 409, 415), roles=_INTEGRATORS),
    R("POST", _WC + "/{session_id}/reject", adapter_api.reject_web_chat,
      "Web chat response: the offered agent rejects (the next agent gets it)",
      "routing adapter", Session, request=adapter_api.AgentAnswer,
      errors=(400, 403, 404, 409, 415), roles=_INTEGRATORS),
    R("POST", _WC + "/{session_id}/messages", adapter_api.web_chat_message,
      "Send a web chat message (customer to agent, or agent to customer)", "routing adapter",
      Message, 201, adapter_api.WebChatMessageInput,
      errors=(400, 403, 404, 409, 415, 429, 503), roles=_INTEGRATORS),
    R("POST", _WC + "/{session_id}/choices", adapter_api.web_chat_choice,
      "Send a web chat choice (pipe-separated options)", "routing adapter", Message, 201,
      adapter_api.WebChatChoiceInput, errors=(400, 403, 404, 409, 415), roles=_INTEGRATORS),
    R("POST", _WC + "/{session_id}/leave", adapter_api.leave_web_chat,
      "Leave a web chat session: the customer left, the session closes", "routing adapter",
      None, 204, errors=(403, 404, 409), roles=_INTEGRATORS),
)  # fmt: skip

# Tenants (system admins), users and roles, agents, not-ready reasons, queues.
_TEN = "/api/v1/tenants"
_USR = "/api/v1/users"
_AGT = "/api/v1/agents"
_QUE = "/api/v1/queues"
_NRR = "/api/v1/not-ready-reasons"
_SYSTEM = ("system_admin",)
_ROLE_Q = QueryParam("role", "Only users of this role", enum=pm.USER_ROLES)
_QUEUE_Q = QueryParam("queue", "Only those serving this queue")
_STATE_Q = QueryParam("state", "Only agents in this state", enum=pm.AGENT_STATES)
_MEMBER_Q = QueryParam("member", "Only queues this agent serves")
PEOPLE: tuple[ApiRoute, ...] = (
    R("GET", _TEN, people.list_tenants, "List tenants", "tenants", pm.TenantPage,
      query=_PAGE, errors=(400, 403), roles=_SYSTEM),
    R("POST", _TEN, people.create_tenant, "Create a tenant", "tenants", pm.TenantView, 201,
      pm.TenantInput, errors=(400, 403, 409, 415), roles=_SYSTEM),
    R("GET", _TEN + "/{tenant_id}", people.get_tenant, "One tenant (a tenant admin: their own)",
      "tenants", pm.TenantView, errors=(403, 404), roles=_ADMINS),
    R("PATCH", _TEN + "/{tenant_id}", people.update_tenant,
      "Change a tenant's name, time zone or not-ready reasons", "tenants", pm.TenantView,
      request=pm.TenantSettings, partial=True, errors=(400, 403, 404, 412, 415),
      roles=_SYSTEM),
    R("DELETE", _TEN + "/{tenant_id}", people.delete_tenant,
      "Delete a tenant with its queues and users (409 while sessions are open)", "tenants",
      None, 204, errors=(403, 404, 409, 412), roles=_SYSTEM),
    R("GET", "/api/v1/roles", people.list_roles, "The roles and what each may do", "users",
      pm.RolePage, query=_PAGE, errors=(400,), roles=_EVERYONE),
    R("GET", _USR, people.list_users, "List users (people and API users)", "users",
      pm.UserPage, query=(_ROLE_Q, _QUEUE_Q, *_PAGE), errors=(400, 403), roles=_ADMINS),
    R("POST", _USR, people.create_user, "Create a user", "users", pm.UserView, 201,
      pm.UserInput, errors=(400, 403, 409, 415), roles=_ADMINS),
    R("GET", _USR + "/{username}", people.get_user, "One user", "users", pm.UserView,
      errors=(400, 403, 404), roles=_ADMINS),
    R("PATCH", _USR + "/{username}", people.update_user,
      "Change a user's name, role, privileges, queues, skills, capacity or secret", "users",
      pm.UserView, request=pm.UserChange, partial=True,
      errors=(400, 403, 404, 412, 415), roles=_ADMINS),
    R("DELETE", _USR + "/{username}", people.delete_user,
      "Delete a user: their sign-in and tokens stop working", "users", None, 204,
      errors=(400, 403, 404, 412), roles=_ADMINS),
    R("GET", _AGT, people.list_agents, "Agents with their live state", "agents",
      pm.AgentPage, query=(_STATE_Q, _QUEUE_Q, *_PAGE), errors=(400, 403),
      roles=_SUPERVISORS),
    R("GET", _AGT + "/{agent_id}", people.get_agent, "One agent with its live state",
      "agents", pm.AgentView, errors=(400, 403, 404), roles=_SUPERVISORS),
    R("PATCH", _AGT + "/{agent_id}", people.update_agent,
      "Change an agent's capacity, queues or skills", "agents", pm.AgentView,
      request=pm.AgentChange, partial=True, errors=(400, 403, 404, 412, 415),
      roles=_ADMINS),
    R("GET", _NRR, people.get_reasons, "The tenant's not-ready reasons", "agents",
      pm.NotReadyReasons, errors=(400, 403), roles=(*_SUPERVISORS, "agent")),
    R("PUT", _NRR, people.put_reasons, "Replace the tenant's not-ready reasons", "agents",
      pm.NotReadyReasons, request=pm.NotReadyReasons, errors=(400, 403, 412, 415),
      roles=_ADMINS),
    R("GET", _QUE, people.list_queues, "List queues", "queues", pm.QueuePage,
      query=(_MEMBER_Q, *_PAGE), errors=(400, 403), roles=_SUPERVISORS),
    R("POST", _QUE, people.create_queue, "Create a queue", "queues", pm.QueueView, 201,
      pm.QueueInput, errors=(400, 403, 409, 415), roles=_ADMINS),
    R("GET", _QUE + "/{queue_id}", people.get_queue, "One queue with its members", "queues",
      pm.QueueView, errors=(400, 403, 404), roles=_SUPERVISORS),
    R("PATCH", _QUE + "/{queue_id}", people.update_queue,
      "Change a queue's name, offer timeout or members", "queues", pm.QueueView,
      request=pm.QueueChange, partial=True, errors=(400, 403, 404, 412, 415),
      roles=_ADMINS),
    R("DELETE", _QUE + "/{queue_id}", people.delete_queue,
      "Delete a queue (409 while a media stream routes to it or sessions wait)", "queues",
      None, 204, errors=(403, 404, 409, 412), roles=_ADMINS),
)  # fmt: skip
