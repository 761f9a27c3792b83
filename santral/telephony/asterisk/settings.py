"""Configuration of the ``asterisk:`` section."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class FastAgiSettings(BaseModel):
    """The FastAGI listener that Asterisk's ``AGI(agi://host:port/script)`` connects to."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=0, le=65535)
    header_timeout: float = Field(
        default=5.0, gt=0, description="seconds a new connection may take to send its header"
    )
    reply_timeout: float = Field(
        default=30.0, gt=0, description="seconds to wait for a reply beyond the command's own time"
    )
    max_sessions: int = Field(default=1000, ge=1)


class AmiSettings(BaseModel):
    """The AMI login santral uses; AMI stays off unless host, username and secret_env are set."""

    model_config = ConfigDict(extra="forbid")

    host: str = ""
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = ""
    secret_env: str = Field(
        default="", description="name of the environment variable that contains the AMI secret"
    )
    action_timeout: float = Field(default=10.0, gt=0, description="seconds per AMI action")
    reconnect_min: float = Field(default=1.0, gt=0, description="first reconnect delay, seconds")
    reconnect_max: float = Field(default=60.0, gt=0, description="largest reconnect delay")
    ping_interval: float = Field(default=20.0, gt=0, description="seconds between AMI pings")

    @property
    def enabled(self) -> bool:
        """True when host, username and the secret's variable name are all configured."""
        return bool(self.host and self.username and self.secret_env)

    def secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        """Return the secret from ``environ``, or None if the variable is unset.

        ``environ`` is the engine's environment mapping; None reads ``os.environ``.
        """
        if not self.secret_env:
            return None
        return (os.environ if environ is None else environ).get(self.secret_env)


class AsteriskSettings(BaseModel):
    """The Asterisk connector: a FastAGI listener and an optional AMI login.

    Agents' phones come from each agent's ``endpoint`` (``PJSIP/alice``) in the ACD
    settings; the FastAGI script name selects the entry dialplan through the IVR
    settings' ``agi_scripts``.
    """

    model_config = ConfigDict(extra="forbid")

    fastagi: FastAgiSettings = Field(default_factory=FastAgiSettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    sounds_prefix: str = Field(
        default="santral",
        description="folder under Asterisk's sounds directory that contains santral's prompts,"
        " as <prefix>/<language>/<name>",
    )
    recordings_folder: str = Field(
        default="santral/recordings",
        description="where RECORD FILE writes, absolute or relative to Asterisk's sounds directory",
    )
    tts_application: str = Field(
        default="",
        description="dialplan application that speaks text (for example Festival); empty skips"
        " text prompts with a warning",
    )
    transfer_context: str = Field(
        default="santral-transfer", description="context a transferred caller is redirected to"
    )
    music_class: str = Field(default="default", description="musiconhold.conf class for queues")
    hold_context: str = Field(
        default="santral-hold",
        description="context (extension s) where the agent's channel waits while the caller"
        " is held; AMI Redirect sends it there",
    )
    consult_context: str = Field(
        default="santral-consult",
        description="context (extension s) where an answered consulted party is bridged with"
        " the waiting agent, whose channel is in the variable SANTRAL_AGENT",
    )
    transfer_template: str = Field(
        default="PJSIP/{target}",
        description="Dial string for a transfer target that has no technology prefix",
    )
    agent_dial_options: str = Field(
        default="g", description="extra Dial options when ringing an agent (g is always added)"
    )
    queue_poll_interval: float = Field(
        default=1.0, gt=0, le=10, description="seconds between checks of a queued caller"
    )
