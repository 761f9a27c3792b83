"""Settings of the store: the ``store:`` section of ``config.yaml``.

```yaml
store:
  url: sqlite:///var/santral.db     # or postgresql://user@host/db
  url_env: SANTRAL_DATABASE_URL     # optional: read the URL from this variable instead
  flush_interval: 0.5               # seconds between batched writes
  retention:                        # days; 0 keeps records for ever
    interactions: 400
    ivr_variables: 30
    recordings: 90
    survey_answers: 400
  fcr_window_days: 7
  short_abandon_seconds: 5
  service_level_seconds: 20
  report_timezone: UTC
```

A relative SQLite path is relative to the folder of the configuration file (the current
folder when no file is given).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from santral.errors import SantralError

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")

DEFAULT_SENSITIVE_NAMES = (
    "pin", "password", "passcode", "card", "pan", "cvv", "cvc", "iban", "ssn", "secret",
    "tckn",
)


class StoreConfigError(SantralError):
    """The store settings name a database that cannot be used."""


class RetentionSettings(BaseModel):
    """How many days each record type is kept; 0 keeps it for ever."""

    model_config = ConfigDict(extra="forbid")

    interactions: int = Field(default=400, ge=0)
    ivr_variables: int = Field(default=30, ge=0)
    recordings: int = Field(default=90, ge=0)
    survey_answers: int = Field(default=400, ge=0)
    sessions: float = Field(default=1.0, ge=0)


class StoreSettings(BaseModel):
    """The store's database, write batching, retention and KPI parameters."""

    model_config = ConfigDict(extra="forbid")

    url: str = f"{SQLITE_PREFIX}var/santral.db"
    url_env: str | None = None
    flush_interval: float = Field(default=0.5, gt=0, le=1.0)
    batch_size: int = Field(default=2000, ge=1)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    retention_interval: float = Field(default=3600.0, gt=0)
    fcr_window_days: float = Field(default=7.0, gt=0)
    short_abandon_seconds: float = Field(default=5.0, ge=0)
    service_level_seconds: float = Field(default=20.0, gt=0)
    report_timezone: str = "UTC"
    sensitive_variables: list[str] = Field(default_factory=lambda: list(DEFAULT_SENSITIVE_NAMES))

    @field_validator("url")
    @classmethod
    def _check_scheme(cls, value: str) -> str:
        if not value.startswith((SQLITE_PREFIX, *POSTGRES_PREFIXES)):
            raise ValueError(
                f"store url {value!r} must start with sqlite:/// or postgresql://"
            )
        return value

    def database_url(
        self, base_dir: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> str:
        """Return the URL to connect to, taking ``url_env`` and ``base_dir`` into account.

        Raises ``StoreConfigError`` when ``url_env`` names a variable that is not set.
        """
        environ = os.environ if environ is None else environ
        url = self.url
        if self.url_env:
            if not environ.get(self.url_env):
                raise StoreConfigError(
                    f"store.url_env names {self.url_env}, which is not set; "
                    "export it or remove url_env to use store.url"
                )
            url = environ[self.url_env]
        if not url.startswith(SQLITE_PREFIX):
            return url
        path = Path(url.removeprefix(SQLITE_PREFIX))
        if not path.is_absolute() and str(path) != ":memory:":
            path = (base_dir or Path.cwd()) / path
        return f"{SQLITE_PREFIX}{path}"
