"""Automatic replies (initial reply, after-hours reply): admin-written jinja2 templates.

Templates are rendered in a sandbox with only the customer's and the stream's fields, so an
admin's template cannot reach into the process.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from router.config import MediaStreamConfig
from router.errors import ConfigError
from router.models import Party

_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def check_template(source: str, where: str) -> None:
    """Fail start-up (or an admin edit) on a template that does not compile."""
    try:
        _ENV.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"{where}: invalid template: {exc}") from None


def render_reply(
    source: str, *, customer: Party, stream: MediaStreamConfig, next_open: datetime | None = None
) -> str:
    """``next_open``: when the stream opens next (after-hours reply; ``None`` otherwise)."""
    context = {
        "customer": customer.model_dump(),
        "stream": {"id": stream.id, "name": stream.name or stream.id, "language": stream.language},
        "next_open": next_open,
    }
    try:
        return _ENV.from_string(source).render(context).strip()
    except TemplateError as exc:
        raise ConfigError(f"media stream {stream.id}: reply template failed: {exc}") from None
