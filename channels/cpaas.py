"""CPaaS platforms (the SMS provider account of a tenant), their numbers, and the admins who
receive alerts.

A platform holds the provider credentials and three defaults (*User Confirmation Required*,
*User Can Block Numbers*, *MMS Available*); a number overrides blocking and MMS and is assigned
to an end user (one agent's personal SMS inbox) or to a media stream.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from router.models import Frozen

_DIGITS = re.compile(r"\D")


def normalize_us_number(value: str | int) -> str:
    """10-digit US number from '2015550123', '12015550123', '+1 (201) 555-0123'…

    Raises ``ValueError`` (with a message for the admin) on anything else.
    """
    digits = _DIGITS.sub("", str(value))
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        raise ValueError(f"{value!r} is not a 10-digit US number")
    return digits


UsNumber = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^[2-9]\d{2}[2-9]\d{6}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HeaderVerification(_Model):
    """The portal's "Notification WebHook Header": a static header on every webhook."""

    mode: Literal["header"] = "header"
    header_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")
    header_value: SecretStr


class MessageIdVerification(_Model):
    """``MessageId`` + ``VerificationToken`` headers keyed with the inbound API key."""

    mode: Literal["message_id"] = "message_id"
    inbound_api_key: SecretStr
    # The spec says HMAC-SHA256(key, MessageId); deployed code used sha256(key + MessageId).
    algorithm: Literal["hmac_sha256", "sha256_concat"] = "hmac_sha256"


InboundVerification = Annotated[
    HeaderVerification | MessageIdVerification, Field(discriminator="mode")
]


class CpaasPlatform(_Model):
    SECRETS: ClassVar[tuple[str, ...]] = ("token_secret", "outbound_api_key")

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    tenant: str = ""
    name: str = Field(min_length=1, max_length=100)
    type: Literal["inteliquent"] = "inteliquent"
    # "API Key" page of the provider portal: provisioning (number inventory, webhooks).
    account_key: str = Field(min_length=1, max_length=200)
    token_secret: SecretStr
    # "Message-Broker API Key": sending SMS/MMS.
    outbound_api_key: SecretStr
    inbound_verification: InboundVerification
    user_confirmation_required: bool = False
    user_can_block_numbers: bool = False
    mms_available: bool = False
    # Provider endpoints (configurable for regions and test doubles).
    messaging_base_url: str = Field(
        default="https://messagebroker.inteliquent.com/msgbroker/rest",
        pattern=r"^https?://\S+$",
    )
    services_base_url: str = Field(
        default="https://services.inteliquent.com/Services/2.0.0", pattern=r"^https?://\S+$"
    )

    def public_view(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={*self.SECRETS, "inbound_verification"})
        verification = self.inbound_verification
        data["inbound_verification"] = (
            {"mode": "header", "header_name": verification.header_name}
            if isinstance(verification, HeaderVerification)
            else {"mode": "message_id", "algorithm": verification.algorithm}
        )
        data["secrets"] = {name: True for name in self.SECRETS}
        return data


class MessagingType(StrEnum):
    SMS = "sms"
    MMS_SMS = "mms_sms"


class ProvisioningState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


class OptInState(StrEnum):
    PENDING = "pending"  # the user has not answered yet
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NOT_REQUIRED = "not_required"


class UserTarget(_Model):
    kind: Literal["user"] = "user"
    agent: str = Field(min_length=1, max_length=64)


class StreamTarget(_Model):
    kind: Literal["stream"] = "stream"
    stream: str = Field(min_length=1, max_length=64)


NumberTarget = Annotated[UserTarget | StreamTarget, Field(discriminator="kind")]


class OptIn(Frozen):
    state: OptInState
    at: datetime | None = None


class CpaasNumber(_Model):
    number: UsNumber
    tenant: str = ""
    platform: str = ""
    friendly_name: str = Field(default="", max_length=100)
    messaging_type: MessagingType = MessagingType.SMS
    # None = the platform's default.
    can_block: bool | None = None
    mms_available: bool | None = None
    target: NumberTarget
    provisioning: ProvisioningState = ProvisioningState.PENDING
    provisioning_error: str | None = None
    # The provider's id of this number's webhook registration (to remove it on delete).
    webhook_auth_id: str | None = None
    opt_in: OptIn = OptIn(state=OptInState.NOT_REQUIRED)

    @field_validator("number", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        return normalize_us_number(value) if isinstance(value, str | int) else value

    @model_validator(mode="after")
    def _default_name(self) -> CpaasNumber:
        if not self.friendly_name:
            object.__setattr__(self, "friendly_name", self.number)
        return self

    def blocking_allowed(self, platform: CpaasPlatform) -> bool:
        return platform.user_can_block_numbers if self.can_block is None else self.can_block

    def mms_allowed(self, platform: CpaasPlatform) -> bool:
        if self.messaging_type is MessagingType.SMS:
            return False
        return platform.mms_available if self.mms_available is None else self.mms_available


class AlertRecipient(_Model):
    """An admin who receives alert emails (an end user declined SMS on their number…)."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    tenant: str = ""
    name: str = Field(default="", max_length=100)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    send_alerts: bool = True
