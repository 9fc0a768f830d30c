"""Prometheus metrics, one registry per process (no module-level state)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.signature_failures = Counter(
            "switchboard_webhook_signature_failures",
            "Webhooks refused because their signature or secret did not verify",
            ["channel"],
            registry=self.registry,
        )
        self.messages_in = Counter(
            "switchboard_messages_in",
            "Inbound messages accepted, by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "switchboard_messages_out",
            "Outbound sends, by channel and outcome (sent, retry, failed)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.blocked_messages = Counter(
            "switchboard_blocked_messages",
            "Inbound messages dropped because their number is blocked (router.blocking)",
            ["channel"],
            registry=self.registry,
        )

    def render(self) -> web.Response:
        resp = web.Response(body=generate_latest(self.registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp
