"""Request and response models of the tenants, users, roles, agents, not-ready reasons and
queues API (``router.people_api``), and the roles with what each may do.

Secrets are write-only: a request may carry ``password`` (people) or ``client_secret`` (API
users); views only say whether one is set (``secret_set``).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args

from pydantic import Field, SecretStr, field_validator, model_validator

from router.api_models import ApiModel
from router.config import SYSTEM_SCOPE, Ident
from router.hours import check_zone
from router.models import AgentState

PRIVILEGES = {"use_sms_api": "Use SMS/MMS API (/api/v1/sms/messages)"}
Privilege = Literal["use_sms_api"]
UserRoleName = Literal["agent", "supervisor", "tenant_admin", "api"]
USER_ROLES: tuple[str, ...] = get_args(UserRoleName)
AGENT_STATES = tuple(state.value for state in AgentState)
Reason = Annotated[str, Field(min_length=1, max_length=64)]
Skill = Annotated[str, Field(min_length=1, max_length=64)]


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


# -- roles ------------------------------------------------------------------------------------


class RoleView(ApiModel):
    """A role and what it may do (read-only)."""

    id: Literal["system_admin", "tenant_admin", "supervisor", "agent", "api"]
    name: str
    description: str
    may: tuple[str, ...]
    # Role privileges a user of this role may be given (API users: use_sms_api).
    privileges: tuple[str, ...] = ()


class RolePage(ApiModel):
    items: tuple[RoleView, ...]
    total: int
    limit: int
    offset: int


ROLES: tuple[RoleView, ...] = (
    RoleView(
        id="system_admin",
        name="System admin",
        description="Runs the deployment; configured at the top of the configuration file.",
        may=(
            "create, change and delete tenants (/api/v1/tenants)",
            "act as a tenant admin of any tenant with a token of scope system:{tenant}",
        ),
    ),
    RoleView(
        id="tenant_admin",
        name="Tenant admin",
        description="Manages one tenant.",
        may=(
            "manage users, roles and privileges (/api/v1/users)",
            "manage queues and not-ready reasons",
            "change agents' capacity, queues and skills",
            "manage accounts, media streams, numbers and event subscriptions",
            "everything a supervisor may do",
        ),
    ),
    RoleView(
        id="supervisor",
        name="Supervisor",
        description="Watches queues and agents of one tenant; also handles conversations.",
        may=(
            "see agents with their live state (/api/v1/agents)",
            "see queues, their statistics and sessions",
            "everything an agent may do",
        ),
    ),
    RoleView(
        id="agent",
        name="Agent",
        description="Handles conversations on the agent desktop.",
        may=(
            "sign in to the agent desktop and take conversations",
            "read the tenant's not-ready reasons",
        ),
    ),
    RoleView(
        id="api",
        name="API user",
        description="An integration (OAuth2 client credentials) of one tenant.",
        may=(
            "read queue statistics and sessions",
            "what its privileges allow",
        ),
        privileges=tuple(PRIVILEGES),
    ),
)


# -- tenants ----------------------------------------------------------------------------------


class TenantSettings(ApiModel):
    """What may change of a tenant (PATCH takes any subset)."""

    name: str = Field(default="", max_length=200)
    time_zone: str = "UTC"
    not_ready_reasons: tuple[Reason, ...] = Field(
        default=("Break", "Lunch", "Meeting", "Training"), max_length=50
    )

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("not_ready_reasons")
    @classmethod
    def _distinct_reasons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct(value)


class TenantInput(TenantSettings):
    id: Ident

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == SYSTEM_SCOPE:
            raise ValueError(f"{SYSTEM_SCOPE!r} is reserved for system admins")
        return value


class TenantView(ApiModel):
    id: str
    name: str
    time_zone: str
    not_ready_reasons: tuple[str, ...]
    # Named in the configuration file (its media streams, accounts... come from there).
    configured: bool


class TenantPage(ApiModel):
    items: tuple[TenantView, ...]
    total: int
    limit: int
    offset: int


# -- users ------------------------------------------------------------------------------------


class UserChange(ApiModel):
    """What may change of a user (PATCH takes any subset)."""

    name: str = Field(default="", max_length=200)
    role: UserRoleName = "agent"
    # Role privileges; only API users hold any.
    privileges: tuple[Privilege, ...] = ()
    # People only: how many conversations at once, which queues they serve, their skills.
    capacity: int = Field(default=1, ge=1, le=100)
    queues: tuple[Ident, ...] = ()
    skills: tuple[Skill, ...] = ()
    # Write-only: the person's password, or the API user's client secret.
    password: SecretStr | None = Field(default=None, min_length=8, max_length=200)
    client_secret: SecretStr | None = Field(default=None, min_length=16, max_length=200)

    @model_validator(mode="after")
    def _fits_role(self) -> Self:
        if self.role == "api":
            if self.password is not None:
                raise ValueError("API users have a client_secret, not a password")
            if self.queues or self.skills:
                raise ValueError("API users serve no queues and have no skills")
        else:
            if self.client_secret is not None:
                raise ValueError("people have a password, not a client_secret")
            if self.privileges:
                raise ValueError("only API users hold privileges")
        _distinct(self.queues)
        return self


class UserInput(UserChange):
    # The login name (an API user's client id); cannot change.
    username: str = Field(min_length=1, max_length=128, pattern=r"^[^\s:]+$")
    # The agent id (routing, transfers); defaults to the username. API users: the username.
    id: Ident | None = None


class UserView(ApiModel):
    username: str
    id: str
    name: str
    role: UserRoleName
    privileges: tuple[str, ...]
    capacity: int
    queues: tuple[str, ...]
    skills: tuple[str, ...]
    # Whether a password / client secret is set (it is never returned).
    secret_set: bool


class UserPage(ApiModel):
    items: tuple[UserView, ...]
    total: int
    limit: int
    offset: int


# -- agents -----------------------------------------------------------------------------------


class AgentChange(ApiModel):
    """What a tenant admin may change of an agent (PATCH takes any subset)."""

    capacity: int = Field(default=1, ge=1, le=100)
    queues: tuple[Ident, ...] = ()
    skills: tuple[Skill, ...] = ()

    @field_validator("queues")
    @classmethod
    def _distinct_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct(value)


class AgentView(ApiModel):
    id: str
    username: str
    name: str
    role: UserRoleName
    state: AgentState
    reason: str | None
    load: int
    capacity: int
    queues: tuple[str, ...]
    skills: tuple[str, ...]
    # Connected to the agent desktop right now (any process).
    connected: bool


class AgentPage(ApiModel):
    items: tuple[AgentView, ...]
    total: int
    limit: int
    offset: int


# -- not-ready reasons --------------------------------------------------------------------------


class NotReadyReasons(ApiModel):
    """The reasons an agent may give for Not Ready, in the order the desktop shows them."""

    reasons: tuple[Reason, ...] = Field(max_length=50)

    @field_validator("reasons")
    @classmethod
    def _distinct_reasons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct(value)


# -- queues -----------------------------------------------------------------------------------


class QueueChange(ApiModel):
    """What may change of a queue (PATCH takes any subset)."""

    name: str = Field(default="", max_length=200)
    offer_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Agent ids serving the queue.
    members: tuple[Ident, ...] = ()

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct(value)


class QueueInput(QueueChange):
    id: Ident


class QueueView(ApiModel):
    id: str
    name: str
    offer_timeout_seconds: float
    members: tuple[str, ...]


class QueuePage(ApiModel):
    items: tuple[QueueView, ...]
    total: int
    limit: int
    offset: int
