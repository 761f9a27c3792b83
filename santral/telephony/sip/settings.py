"""Settings of the SIP connector (config section ``sip:``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MUSIC_ON_HOLD = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")


class SipSettings(BaseModel):
    """Where santral registers, which extensions it answers, and its media ports.

    The password of every extension is read from the environment variable named by
    ``password_env``; leave it empty for a registrar without authentication.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    server: str = "127.0.0.1"
    port: int = Field(default=5060, ge=1, le=65535)
    extensions: list[str] = Field(default_factory=lambda: ["ivr"], min_length=1)
    password_env: str = ""
    local_address: str = "127.0.0.1"
    local_port: int = Field(default=5080, ge=0, le=65535)
    registration: bool = True
    register_expires: int = Field(default=300, ge=30, le=86400)
    register_timeout: float = Field(default=5.0, gt=0, le=60)
    rtp_port_min: int = Field(default=20000, ge=1024, le=65534)
    rtp_port_max: int = Field(default=20999, ge=1025, le=65535)
    codecs: list[str] = Field(default_factory=lambda: ["PCMU", "PCMA"], min_length=1)
    dtmf_payload_type: int = Field(default=101, ge=96, le=127)
    music_on_hold: Path | None = DEFAULT_MUSIC_ON_HOLD
    tts_voice: str = "en-us"
    ring_timeout: float = Field(default=20.0, gt=0, le=300)

    @field_validator("local_address")
    @classmethod
    def _specific_address(cls, value: str) -> str:
        address = ipaddress.ip_address(value)
        if address.is_unspecified:
            raise ValueError(
                f"{value} is not an address peers can reach (it would go into Contact and "
                "the SDP c= line); set the machine's address, for example 127.0.0.1"
            )
        return value

    @field_validator("codecs")
    @classmethod
    def _known_codecs(cls, value: list[str]) -> list[str]:
        unknown = [codec for codec in value if codec not in ("PCMU", "PCMA")]
        if unknown:
            raise ValueError(f"unsupported codecs {unknown}; use PCMU and/or PCMA")
        return value

    @model_validator(mode="after")
    def _port_range(self) -> SipSettings:
        if self.rtp_port_max - self.rtp_port_min < 2:
            raise ValueError(
                f"rtp_port_min {self.rtp_port_min} to rtp_port_max {self.rtp_port_max} leaves "
                "no room for one call; widen the range"
            )
        return self
