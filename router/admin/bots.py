"""Console pages of bot accounts (AWS Lex, IBM Watson Assistant): list with the remaining
calls today, add, edit, delete, Test Connection (``router.admin.typed_accounts``).

Forms validate with the API's model (``bots.accounts.BOT_ACCOUNT``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bots.accounts import (
    BOT_ACCOUNT,
    BotAccount,
    LexAccount,
    LexV1Account,
    WatsonAccount,
    WatsonLegacyAccount,
    dump_bot_account,
)
from bots.errors import BotError
from channels.base import CheckResult, ConnectionCheck
from router.admin import forms
from router.admin.typed_accounts import AccountPages
from router.runtime import Runtime

MODELS: dict[str, type[BaseModel]] = {
    "lex": LexAccount,
    "lex_v1": LexV1Account,
    "watson": WatsonAccount,
    "watson_legacy": WatsonLegacyAccount,
}
TYPES = {
    "lex": "AWS Lex",
    "lex_v1": "AWS Lex (V1)",
    "watson": "Watson Assistant",
    "watson_legacy": "Watson Assistant (Legacy)",
}
LABELS = {
    "max_api_calls_per_day": "Max API calls per day",
    "timeout_seconds": "Timeout (seconds)",
    "aws_account_id": "User ID",
    "bot_id": "Bot ID",
    "bot_alias_id": "Bot alias ID",
    "locale_id": "Locale ID",
    "bot_name": "Bot name",
    "bot_alias": "Bot alias",
    "access_key": "Access key",
    "secret_key": "Secret key",
    "endpoint_url": "Endpoint URL",
    "url": "Url",
    "skill_id": "Skill ID",
    "api_key": "API Key",
    "iam_url": "IAM token URL",
    "max_suggestions": "Maximum suggestions",
}
HELP = {
    "name": "The unique name of this integration account. It is helpful to have a descriptive"
    " name if your contact center uses multiple integration accounts of the same type.",
    "type": "The type of integration account.",
    "max_api_calls_per_day": "The maximum number of calls that can be done each day. This limit"
    " is here to keep your account from being charged for additional calls beyond what is"
    " included in a free account.",
    "remaining": "Calls left today under Max API calls per day (the same counter every"
    " Switchboard process uses).",
    "timeout_seconds": "A slower answer is skipped and the customer goes to an agent.",
    "aws_account_id": "Your AWS Account ID. Find it in AWS by going to My Account > Account"
    " Settings.",
    "bot_name": 'The bot name (e.g., "TripBooker"); note this may be different than an alias name.',
    "bot_alias": "The alias name (if any).",
    "bot_id": "The ID of your Lex V2 bot.",
    "bot_alias_id": "The ID of the bot alias to talk to.",
    "access_key": "The access key ID (e.g., AKIAIOSFODNN7EXAMPLE).",
    "secret_key": "The secret access key.",
    "region": "The region for your bot instance (e.g., us-west-2).",
    "url": "The API endpoint of your Watson Assistant Skill (for the legacy type, the Legacy v1"
    " Workspace URL; its version parameter is added when missing).",
    "skill_id": "The identifying number (string) of your Watson Assistant Skill.",
    "api_key": "The API Key (string) used to authenticate the service.",
    "max_suggestions": "The maximum number of suggestions (e.g., 3) that can be delivered to"
    " the Agent Desktop during active chat interactions.",
    "test": "Click this button to test the credentials and confirm that the connection is valid.",
}


async def _columns(rt: Runtime, account: BotAccount) -> dict[str, Any]:
    return {"remaining": await rt.bots.remaining_calls_today(account)}


async def _check(rt: Runtime, account: BotAccount) -> ConnectionCheck:
    try:
        return await rt.bots.engine(account).test_connection()
    except BotError as exc:  # e.g. the daily cap or an open breaker
        return ConnectionCheck(result=CheckResult.UNREACHABLE, detail=str(exc))


BOTS = AccountPages[BotAccount](
    base="/admin/bot-accounts",
    nav="bots",
    noun="bot account",
    models=MODELS,
    types=TYPES,
    adapter=BOT_ACCOUNT,
    dump=dump_bot_account,
    store=lambda rt: rt.store.bots,
    list_template="admin/bot_accounts.html",
    columns=_columns,
    check=_check,
    lead="bot / chat suggestions engine account.",
    deleted="Media streams using it go straight to agents.",
    labels=LABELS,
    help=HELP,
    tail=("endpoint_url", "iam_url", "version", "timeout_seconds"),
)
PAGES = BOTS.pages()
test_connection = forms.tenant_admin_page(BOTS.test_connection)
