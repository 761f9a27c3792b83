"""The ``ivr:`` section of ``config.yaml``."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class IvrSettings(BaseModel):
    """IVR settings: the dialplan and prompt folders, and the entries of called numbers.

    Relative paths are relative to the directory of ``config.yaml``. The defaults need no
    external service: prompts come from the committed recordings.
    """

    model_config = ConfigDict(extra="forbid")

    dialplans: Path = Path("dialplans")
    recordings: Path = Path("recordings")
    languages: list[str] = Field(default_factory=lambda: ["en", "tr"])
    default_language: str = "en"
    numbers: dict[str, str] = Field(default_factory=dict)
    agi_scripts: dict[str, str] = Field(default_factory=dict)
    default_entry: str | None = None
    tts_voices: dict[str, str] = Field(default_factory=lambda: {"en": "en-us", "tr": "tr"})
    time_zone: str = "UTC"
    max_steps: int = Field(default=200, ge=10, le=10_000)
    secret_key_env: str = "SANTRAL_IVR_SECRET_KEY"

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Istanbul'"
            ) from error
        return value

    @model_validator(mode="after")
    def _default_language_declared(self) -> IvrSettings:
        if not self.languages:
            raise ValueError("languages is empty; list at least one language, e.g. ['en']")
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language {self.default_language!r} is not in languages "
                f"{self.languages}; add it there or pick one of them"
            )
        return self

    def resolve_paths(self, base: Path) -> IvrSettings:
        """Return a copy whose relative paths are made absolute against ``base``."""
        return self.model_copy(
            update={
                "dialplans": _absolute(self.dialplans, base),
                "recordings": _absolute(self.recordings, base),
            }
        )

    def entry_for(self, number: str) -> str | None:
        """Return the entry (``dialplan`` or ``dialplan.node``) for a called number."""
        return self.numbers.get(number, self.default_entry)


def _absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path
