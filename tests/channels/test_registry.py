"""The channel registry keeps one adapter per integration account until the account
changes."""

from __future__ import annotations

import aiohttp
from pydantic import SecretStr

from channels.accounts import TelegramAccount
from channels.registry import ChannelRegistry


def telegram(token: str) -> TelegramAccount:
    return TelegramAccount(
        id="tg", tenant="acme", name="Telegram", stream="support",
        token=SecretStr(token), secret_token=SecretStr("s3cret"),
    )  # fmt: skip


async def test_one_adapter_per_account_until_it_changes() -> None:
    async with aiohttp.ClientSession() as http:
        registry = ChannelRegistry(http)
        account = telegram("123:abc")
        first = registry.adapter(account)
        assert registry.adapter(account) is first
        assert registry.adapter(telegram("123:abc")) is first  # an equal copy: same adapter
        changed = registry.adapter(telegram("456:def"))
        assert changed is not first
        assert changed.account.token.get_secret_value() == "456:def"
        assert registry.adapter(telegram("456:def")) is changed
