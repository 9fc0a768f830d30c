"""Inteliquent (now Sinch) Message Broker: the SMS/MMS provider behind a CPaaS platform.

``client`` calls the provider (credentials check, number inventory, per-number webhooks,
sending), ``webhook`` verifies and parses inbound webhooks, ``adapter`` is the outbound
channel adapter of one number. See ``docs/sms.md``.
"""

from __future__ import annotations

from channels.inteliquent._wire import InteliquentError
from channels.inteliquent.adapter import TEXT_LIMIT, InteliquentAdapter
from channels.inteliquent.client import InteliquentClient
from channels.inteliquent.webhook import DeliveryReceipt, InboundSms, parse, verify

__all__ = [
    "TEXT_LIMIT",
    "DeliveryReceipt",
    "InboundSms",
    "InteliquentAdapter",
    "InteliquentClient",
    "InteliquentError",
    "parse",
    "verify",
]
