"""Settings of the Twilio connector: the ``twilio:`` section of ``config.yaml``.

```yaml
public_url: https://voice.example.com   # or SANTRAL_PUBLIC_URL; Twilio calls this host
twilio:
  account_sid_env: TWILIO_ACCOUNT_SID     # names of the variables that hold the secrets
  auth_token_env: TWILIO_AUTH_TOKEN
  trusted_proxies: [127.0.0.1/32]         # X-Forwarded-* is read only from these peers
  languages: {en: en-US, tr: tr-TR}       # santral language -> Twilio <Say> language
  voices: {en: Polly.Joanna, tr: Polly.Filiz}   # <Say> voice per language
  hold_music: /usr/share/asterisk/moh/macroform-cold_day.wav
```

The connector is enabled when both variables are set and a public URL is known (this
section's ``public_url``, the top-level ``public_url``, or ``SANTRAL_PUBLIC_URL``);
``enabled: false`` turns it off regardless, ``enabled: true`` makes missing secrets an
error instead of a silent skip.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from santral.errors import ConnectorError

PUBLIC_URL_ENV = "SANTRAL_PUBLIC_URL"
DEFAULT_HOLD_MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")


class TwilioSetupError(ConnectorError):
    """The Twilio connector cannot run with the settings and environment it was given."""


@dataclass(frozen=True)
class TwilioCredentials:
    """Run-time credentials of the connector. ``auth_token`` is a secret and never logged."""

    account_sid: str
    auth_token: str
    public_url: str

    def __repr__(self) -> str:
        return (
            f"TwilioCredentials(account_sid={self.account_sid!r}, public_url={self.public_url!r})"
        )


class TwilioSettings(BaseModel):
    """Settings of the Twilio connector: public URL, secret variables, proxies, call sound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    public_url: str | None = None
    account_sid_env: str = "TWILIO_ACCOUNT_SID"
    auth_token_env: str = "TWILIO_AUTH_TOKEN"
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=list
    )
    path_prefix: str = "/twilio"
    languages: dict[str, str] = Field(default_factory=lambda: {"en": "en-US", "tr": "tr-TR"})
    # Twilio's basic voices (man, woman) speak no Turkish, so the defaults are Amazon Polly
    # voices that Twilio offers for both languages.
    voices: dict[str, str] = Field(
        default_factory=lambda: {"en": "Polly.Joanna", "tr": "Polly.Filiz"}
    )
    hold_music: Path | None = DEFAULT_HOLD_MUSIC
    queue_poll_interval: float = Field(default=5.0, gt=0, le=60)
    reply_budget: float = Field(default=0.5, gt=0, le=10)
    slow_step_pause: int = Field(default=1, ge=1, le=10)
    whisper: bool = True
    caller_id: str = ""
    # NOTE: Twilio documents signatures for webhooks, not for <Play> media fetches, so
    # prompts and hold music (public audio) are served unchecked unless this is set.
    validate_media: bool = False

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        return None if value is None else normalise_public_url(value)

    @field_validator("path_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or "?" in value:
            raise ValueError(f"path_prefix {value!r} must start with '/' and not end with '/'")
        return value

    def resolve_public_url(
        self, top_level: str | None = None, environ: Mapping[str, str] | None = None
    ) -> str | None:
        """Return the public base URL: this section, then ``top_level``, then the variable."""
        environ = os.environ if environ is None else environ
        for candidate in (self.public_url, top_level, environ.get(PUBLIC_URL_ENV)):
            if candidate:
                return normalise_public_url(candidate)
        return None

    def is_enabled(
        self, top_level: str | None = None, environ: Mapping[str, str] | None = None
    ) -> bool:
        """Tell whether the engine should run the connector with this environment."""
        if self.enabled is not None:
            return self.enabled
        environ = os.environ if environ is None else environ
        has_secrets = bool(environ.get(self.account_sid_env)) and bool(
            environ.get(self.auth_token_env)
        )
        return has_secrets and self.resolve_public_url(top_level, environ) is not None

    def credentials(
        self, top_level: str | None = None, environ: Mapping[str, str] | None = None
    ) -> TwilioCredentials:
        """Read the secrets and the public URL; raise ``TwilioSetupError`` if one is missing."""
        environ = os.environ if environ is None else environ
        missing = [
            name for name in (self.account_sid_env, self.auth_token_env) if not environ.get(name)
        ]
        public_url = self.resolve_public_url(top_level, environ)
        if public_url is None:
            missing.append(f"public_url (config) or {PUBLIC_URL_ENV}")
        if missing:
            raise TwilioSetupError(
                f"the Twilio connector cannot start: {', '.join(missing)} not set; Twilio "
                "requests cannot be validated without the auth token and the public URL"
            )
        return TwilioCredentials(
            account_sid=environ[self.account_sid_env],
            auth_token=environ[self.auth_token_env],
            public_url=str(public_url),
        )


def normalise_public_url(value: str) -> str:
    """Check that ``value`` is an absolute http(s) URL and drop a trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"public URL {value!r} must be absolute, for example https://voice.example.com"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"public URL {value!r} must not have a query or fragment")
    return value.rstrip("/")
