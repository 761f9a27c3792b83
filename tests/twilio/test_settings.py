"""The ``twilio:`` config section and what enables the connector."""

from __future__ import annotations

import pydantic
import pytest

from santral.telephony.twilio import TwilioSettings, TwilioSetupError

SECRETS = {"TWILIO_ACCOUNT_SID": "AC" + "3f" * 16, "TWILIO_AUTH_TOKEN": "token"}


def test_enabled_by_secrets_and_public_url() -> None:
    settings = TwilioSettings()
    assert settings.is_enabled("https://voice.example.test", SECRETS)
    assert settings.is_enabled(None, {**SECRETS, "SANTRAL_PUBLIC_URL": "https://v.example.test"})
    assert not settings.is_enabled(None, SECRETS)
    assert not settings.is_enabled("https://voice.example.test", {"TWILIO_AUTH_TOKEN": "t"})


def test_explicit_enabled_wins() -> None:
    assert not TwilioSettings(enabled=False).is_enabled("https://v.example.test", SECRETS)
    assert TwilioSettings(enabled=True).is_enabled(None, {})


def test_public_url_order() -> None:
    settings = TwilioSettings(public_url="https://own.example.test/")
    environ = {"SANTRAL_PUBLIC_URL": "https://env.example.test"}
    assert settings.resolve_public_url("https://top.example.test", environ) == (
        "https://own.example.test"
    )
    assert TwilioSettings().resolve_public_url("https://top.example.test", environ) == (
        "https://top.example.test"
    )
    assert TwilioSettings().resolve_public_url(None, environ) == "https://env.example.test"


def test_credentials_name_what_is_missing() -> None:
    with pytest.raises(TwilioSetupError) as raised:
        TwilioSettings().credentials(None, {"TWILIO_ACCOUNT_SID": "AC1"})
    message = str(raised.value)
    assert "TWILIO_AUTH_TOKEN" in message
    assert "SANTRAL_PUBLIC_URL" in message
    assert "TWILIO_ACCOUNT_SID" not in message


def test_credentials_repr_hides_token() -> None:
    credentials = TwilioSettings().credentials("https://v.example.test", SECRETS)
    assert credentials.auth_token == "token"
    assert "token" not in repr(credentials).replace("auth_token", "")


def test_secret_variable_names_are_configurable() -> None:
    settings = TwilioSettings(auth_token_env="ACME_TWILIO_TOKEN")
    environ = {"TWILIO_ACCOUNT_SID": "AC1", "ACME_TWILIO_TOKEN": "t2"}
    assert settings.credentials("https://v.example.test", environ).auth_token == "t2"


@pytest.mark.parametrize(
    "options",
    [
        {"public_url": "voice.example.test"},
        {"public_url": "ftp://voice.example.test"},
        {"public_url": "https://voice.example.test/?x=1"},
        {"path_prefix": "twilio"},
        {"path_prefix": "/twilio/"},
        {"trusted_proxies": ["not-a-network"]},
        {"auth_token": "inline secrets are not accepted"},
        {"reply_budget": 0},
    ],
)
def test_invalid_settings_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        TwilioSettings.model_validate(options)
