"""Settings of the written channels: the ``chat:`` and ``email:`` sections of the config."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Route(BaseModel):
    """The destination of a written interaction: a queue, required skills and priority."""

    model_config = ConfigDict(extra="forbid")

    queue: str
    skills: dict[str, int] = Field(default_factory=dict)
    priority: int = 0
    language: str | None = None


class ChatTopic(Route):
    """A topic the chat widget offers, with the label customers see."""

    label: str = ""


class ChatSettings(BaseModel):
    """Web chat: the customer WebSocket at ``/chat/ws`` and the widget script."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    topics: dict[str, ChatTopic] = Field(default_factory=dict)
    max_message_length: int = Field(default=4000, ge=1)
    position_interval: float = Field(default=5.0, gt=0)  # seconds between position updates
    allowed_origins: list[str] = Field(default_factory=list)  # empty: any origin


class EmailRule(Route):
    """Routes mail that matches every condition given; the first matching rule wins.

    ``to`` matches the recipient address, ``subject`` and ``body`` are case-insensitive
    regular expressions, and ``sender_language`` matches the primary tag of the mail's
    ``Content-Language`` header (``tr`` matches ``tr-TR``). ``language`` sets the
    interaction's language.
    """

    to: str | None = None
    subject: str | None = None
    body: str | None = None
    sender_language: str | None = None

    @field_validator("subject", "body")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"invalid regular expression {value!r}: {error}") from None
        return value


class EmailSettings(BaseModel):
    """Email in (an SMTP listener) and out (an SMTP relay for agents' replies)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=2525, ge=0, le=65535)
    max_message_size: int = Field(default=10 * 1024 * 1024, ge=1024)  # bytes, whole message
    max_attachment_size: int = Field(default=5 * 1024 * 1024, ge=1)  # bytes, each attachment
    attachments_folder: Path = Path("var/attachments")
    rules: list[EmailRule] = Field(default_factory=list)
    default_route: Route | None = None
    relay_host: str = "127.0.0.1"
    relay_port: int = Field(default=25, ge=1, le=65535)
    relay_username: str = ""
    relay_password_env: str = ""
    relay_starttls: bool = False
    from_address: str = "support@example.com"
