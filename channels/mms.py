"""The MMS rule for outbound messages with attachments (carrier MMS size and type limits).

An outbound message goes as MMS only when MMS is available for the number (platform default,
number override), both numbers are US numbers, and every attachment is MMS-compliant;
otherwise it goes as one SMS with a link to each attachment.

- US: ``phonenumbers`` says region ``US`` and the number is valid. NANP is not the US:
  Canada (+1 416…), the Caribbean, and also the US territories (PR, GU, VI, AS, MP, which
  ``phonenumbers`` gives their own regions) do not count.
- Compliant: at most ``MAX_ATTACHMENTS``; images (jpeg, png, gif) up to ``IMAGE_LIMIT``
  (carriers transcode images, ~1 MB is safe across AT&T, T-Mobile and Verizon); audio,
  video/mp4, video/3gpp, vCard, iCalendar and PDF up to ``OTHER_LIMIT`` (the toll-free and
  short-code floor of 600 KB). An attachment whose size is unknown is taken only when it is
  an image (images are resized by the carrier; other types are not). A generic content
  type (``application/octet-stream``) is guessed from the URL's extension.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from urllib.parse import urlsplit

import phonenumbers

from router.models import Attachment

MAX_ATTACHMENTS = 10
IMAGE_LIMIT = 1024 * 1024
OTHER_LIMIT = 600 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif"})
OTHER_TYPES = frozenset(
    {"video/mp4", "video/3gpp", "text/vcard", "text/x-vcard", "text/calendar",
     "application/pdf"}
)  # fmt: skip
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def is_us_number(number: str) -> bool:
    """E.164 (or our 10-digit form) of a valid number in the United States proper."""
    text = number if number.startswith("+") else "+1" + number
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    region = phonenumbers.region_code_for_number(parsed)
    return region == "US" and phonenumbers.is_valid_number(parsed)


def content_type_of(attachment: Attachment) -> str:
    declared = attachment.content_type.split(";", 1)[0].strip().lower()
    if declared in _GENERIC:
        guessed = mimetypes.guess_type(urlsplit(attachment.url).path)[0]
        return (guessed or declared).lower()
    return declared


def mms_compliant(attachment: Attachment) -> bool:
    kind = content_type_of(attachment)
    size = attachment.size
    if kind in IMAGE_TYPES:
        return size is None or size <= IMAGE_LIMIT
    if kind in OTHER_TYPES or kind.startswith("audio/"):
        return size is not None and size <= OTHER_LIMIT
    return False


def send_as_mms(
    mms_available: bool, our_number: str, remote_number: str, attachments: Sequence[Attachment]
) -> bool:
    """The rule: True when ``attachments`` may go as one MMS from ``our_number``."""
    return (
        mms_available
        and 0 < len(attachments) <= MAX_ATTACHMENTS
        and is_us_number(our_number)
        and is_us_number(remote_number)
        and all(mms_compliant(a) for a in attachments)
    )
