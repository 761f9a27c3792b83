"""Configuration of CTI: the ``cti:`` section of the engine config.

Secrets never appear in the config itself: passwords are stored as hashes (see
``cti.passwords``) and API tokens and webhook secrets are read from the environment
variables the config names.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti.passwords import check_hash_format

Role = Literal["agent", "supervisor", "admin"]


class UserConfig(BaseModel):
    """One user who may log in to the console or call the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.@-]+$")
    name: str = ""
    role: Role
    agent_id: str = ""  # required for role agent: the ACD agent this user acts as
    password_hash: str = ""  # pbkdf2_sha256$... or scrypt$..., see cti.passwords
    token_env: str = ""  # environment variable holding this user's API token
    demo: bool = False  # a demo user with a published password, for local trials only

    @model_validator(mode="after")
    def _check_credentials(self) -> UserConfig:
        if not self.password_hash and not self.token_env:
            raise ValueError(f"user {self.id!r} needs a password_hash, a token_env, or both")
        if self.password_hash:
            check_hash_format(self.password_hash)
        if self.role == "agent" and not self.agent_id:
            raise ValueError(f"user {self.id!r} has role agent but no agent_id; set agent_id")
        return self


class CrmPopConfig(BaseModel):
    """Per-queue CRM pop: a link template for the console and an outgoing signed webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Filled from the pop fields, e.g. "https://crm.example/search?phone={caller}".
    url_template: str = ""
    webhook_url: str = ""
    webhook_secret_env: str = ""  # environment variable holding the HMAC-SHA256 key

    @model_validator(mode="after")
    def _check_webhook(self) -> CrmPopConfig:
        if self.webhook_url and not self.webhook_secret_env:
            raise ValueError("a CRM webhook_url needs webhook_secret_env to sign its requests")
        return self


class CtiSettings(BaseModel):
    """The ``cti:`` section of the engine configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[UserConfig] = Field(default_factory=list)
    offer_history_days: int = Field(default=30, ge=0)  # 0 turns the previous-contacts pop off
    offer_history_limit: int = Field(default=10, ge=1, le=100)
    crm_pop: dict[str, CrmPopConfig] = Field(default_factory=dict)  # by queue name
    max_backlog: int = Field(default=256, ge=1)  # unsent messages per WebSocket client
    session_ttl: float = Field(default=12 * 3600, gt=0)  # seconds a console login lasts
    login_attempts: int = Field(default=5, ge=1)  # failed logins per user before a lockout
    login_lockout: float = Field(default=60.0, ge=0)  # seconds of that lockout
    queue_stats_interval: float = Field(default=2.0, gt=0)  # seconds between queue checks
    webhook_attempts: int = Field(default=5, ge=1)
    webhook_backoff: float = Field(default=1.0, ge=0)  # first retry delay; doubles each retry
    webhook_timeout: float = Field(default=5.0, gt=0)
    # Pop variables whose name contains one of these words are masked as a second guard;
    # the IVR already masks the variables a dialplan marks sensitive.
    masked_variables: list[str] = Field(
        default_factory=lambda: ["pin", "password", "card", "cvv", "iban", "ssn", "secret"]
    )
    demo_users_warning: bool = True  # warn when demo users listen beyond loopback

    @model_validator(mode="after")
    def _check_unique_users(self) -> CtiSettings:
        seen: set[str] = set()
        for user in self.users:
            if user.id in seen:
                raise ValueError(f"user id {user.id!r} appears twice in cti.users")
            seen.add(user.id)
        return self


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` (an address or name the engine listens on) is loopback only."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def demo_user_warnings(settings: CtiSettings, hosts: list[str]) -> list[str]:
    """Return one warning per demo user when the engine listens on a non-loopback address.

    The integrator logs these at start; an empty host ("") means every interface.
    """
    if not settings.demo_users_warning:
        return []
    exposed = [host for host in hosts if not is_loopback(host)]
    if not exposed:
        return []
    where = ", ".join(host or "0.0.0.0" for host in exposed)
    return [
        f"demo user {user.id!r} with a published password is enabled while listening on "
        f"{where}; remove it from cti.users or listen on 127.0.0.1 only"
        for user in settings.users
        if user.demo
    ]
