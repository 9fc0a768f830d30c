"""Alert emails to a tenant's alert recipients (an end user declined SMS on their number…).

Bodies are jinja2 templates in ``router/templates/email/*.txt`` (plain text, no escaping;
a missing context field is an error, not an empty string). Each recipient with
``send_alerts`` on gets their own message over SMTP (aiosmtplib) from ``settings.alert_from``.
``settings.smtp_url`` is ``smtp://[user:password@]host[:port]`` (STARTTLS when the server
offers it) or ``smtps://…`` (TLS from the start); without it alerts are logged as not sent.
An unreachable server or a refused recipient is logged; ``send`` never raises for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined

from channels.cpaas import AlertRecipient
from router.settings import Settings

log = logging.getLogger(__name__)
SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int | None
    username: str | None
    password: str | None
    use_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"not an smtp:// or smtps:// URL: {url!r}")
        return cls(
            hostname=parts.hostname,
            port=parts.port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
        )


class Alerter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server = SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else None
        self._templates = Environment(
            loader=PackageLoader("router", "templates/email"),
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, template: str, context: Mapping[str, object]) -> str:
        return self._templates.get_template(template).render(**context)

    async def send(
        self,
        tenant: str,
        recipients: Sequence[AlertRecipient],
        subject: str,
        template: str,
        context: Mapping[str, object],
    ) -> int:
        """Email the rendered ``template`` to every recipient with ``send_alerts`` on;
        returns how many the SMTP server accepted."""
        to = [r for r in recipients if r.send_alerts]
        body = self.render(template, {"tenant": tenant, **context})
        if not to:
            log.warning("alert %r for tenant %s: no alert recipient", subject, tenant)
            return 0
        if self._server is None:
            log.warning(
                "alert %r for tenant %s not sent: no SMTP server (SWITCHBOARD_SMTP_URL)",
                subject, tenant,
            )  # fmt: skip
            return 0
        sent = 0
        for recipient in to:
            if await self._send_one(recipient, subject, body):
                sent += 1
        return sent

    async def _send_one(self, recipient: AlertRecipient, subject: str, body: str) -> bool:
        assert self._server is not None
        message = EmailMessage()
        message["From"] = self.settings.alert_from
        message["To"] = formataddr((recipient.name, recipient.email))
        message["Subject"] = subject
        message.set_content(body)
        server = self._server
        try:
            await aiosmtplib.send(
                message, hostname=server.hostname, port=server.port,
                username=server.username, password=server.password,
                use_tls=server.use_tls, timeout=SMTP_TIMEOUT,
            )  # fmt: skip
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("alert email to %s not sent: %s", recipient.email, exc)
            return False
        return True
