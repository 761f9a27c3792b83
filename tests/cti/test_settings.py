"""The cti: config section and the demo-user warning."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cti.settings import CtiSettings, demo_user_warnings, is_loopback
from tests.cti.conftest import make_settings

HASH = "pbkdf2_sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"


@pytest.mark.parametrize(("user", "message"), [
    ({"id": "a", "role": "agent", "password_hash": HASH}, "agent_id"),
    ({"id": "a", "role": "supervisor"}, "password_hash, a token_env"),
    ({"id": "a", "role": "boss", "token_env": "X"}, "role"),
    ({"id": "a", "role": "admin", "password_hash": "plain"}, "password hash"),
    ({"id": "a b", "role": "admin", "token_env": "X"}, "id"),
    ({"id": "a", "role": "admin", "token_env": "X", "colour": "red"}, "colour"),
])
def test_invalid_user_rejected(user: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CtiSettings.model_validate({"users": [user]})


def test_duplicate_user_rejected() -> None:
    user = {"id": "a", "role": "admin", "token_env": "X"}
    with pytest.raises(ValidationError, match="twice"):
        CtiSettings.model_validate({"users": [user, user]})


def test_webhook_needs_secret() -> None:
    with pytest.raises(ValidationError, match="webhook_secret_env"):
        CtiSettings.model_validate({"crm_pop": {"support": {"webhook_url": "http://127.0.0.1/"}}})


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("127.0.0.2", True), ("0.0.0.0", False), ("", False), ("192.168.1.5", False),
    ("pbx.example", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_demo_users_warned_beyond_loopback() -> None:
    settings = make_settings()
    users = [user.model_copy(update={"demo": True}) for user in settings.users]
    demo = settings.model_copy(update={"users": users})

    warnings = demo_user_warnings(demo, ["0.0.0.0"])

    assert len(warnings) == 3
    assert "'alice'" in warnings[0]
    assert "0.0.0.0" in warnings[0]
    assert demo_user_warnings(demo, ["127.0.0.1", "::1"]) == []
    assert demo_user_warnings(settings, ["0.0.0.0"]) == []
    assert demo_user_warnings(demo.model_copy(update={"demo_users_warning": False}),
                              ["0.0.0.0"]) == []
