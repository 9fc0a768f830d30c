"""The outbound adapter of a CPaaS (Inteliquent) number: one message becomes one MMS or one
SMS, following the MMS rule (``channels.mms``).

- MMS: the text (choices as a numbered list) with every attachment as ``mediaUrls``.
- SMS: the text plus one link per attachment, each a signed, expiring Switchboard link
  (``channels.links``) made by the ``link`` function the router passes in.

Inteliquent documents no text limit; a request carries at most ``TEXT_LIMIT`` characters (the
common 10-segment concatenation ceiling) and longer text is split over several requests (an
MMS carries the first part, the rest follow as SMS). Each request's referenceId is recorded,
so delivery receipts find the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from channels.base import Capabilities, SendReceipt
from channels.cpaas import CpaasNumber, CpaasPlatform
from channels.degrade import flatten, split_text
from channels.inteliquent.client import InteliquentClient
from channels.mms import send_as_mms
from router.models import ChannelKind, Message

TEXT_LIMIT = 1600
# An attachment URL -> the absolute URL to send (MMS) or the public signed link (SMS).
Absolute = Callable[[str], str]


class InteliquentAdapter:
    kind: ClassVar[ChannelKind] = ChannelKind.SMS
    # No documented rate limit: nothing is enforced locally.
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=TEXT_LIMIT, media=True, choices=False
    )

    def __init__(
        self, client: InteliquentClient, platform: CpaasPlatform, number: CpaasNumber, *,
        absolute: Absolute, link: Absolute,
    ) -> None:  # fmt: skip
        self.client = client
        self.platform = platform
        self.number = number
        self._absolute = absolute
        self._link = link

    def goes_as_mms(self, message: Message) -> bool:
        return send_as_mms(
            self.number.mms_allowed(self.platform),
            self.number.number,
            message.remote_party.id,
            message.attachments,
        )

    async def send(self, message: Message) -> SendReceipt:
        text = flatten(message, media=True, choices=False)
        to = [message.remote_party.id]
        ids: list[str] = []
        if self.goes_as_mms(message):
            first, *rest = split_text(text, TEXT_LIMIT)
            media = [self._absolute(a.url) for a in message.attachments]
            ids.append(await self.client.publish(self.number.number, to, first, media))
        else:
            lines = [text] if text else []
            lines += [self._link(a.url) for a in message.attachments]
            rest = split_text("\n".join(lines), TEXT_LIMIT)
        for chunk in rest:
            if chunk:
                ids.append(await self.client.publish(self.number.number, to, chunk))
        return SendReceipt(delivered=True, provider_message_ids=tuple(ids))
