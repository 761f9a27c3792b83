"""Password hashes, logins, sessions, API tokens and what each role may do."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

from cti.auth import Authenticator, AuthError, Principal
from cti.passwords import check_hash_format, hash_password, verify_password
from santral.clock import VirtualClock
from tests.cti.conftest import PASSWORDS, make_settings


def test_hash_round_trip() -> None:
    encoded = hash_password("s3cret", iterations=1_000)

    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("S3cret", encoded)


def test_scrypt_hash_accepted() -> None:
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"pw", salt=salt, n=2**10, r=8, p=1, dklen=32)
    encoded = f"scrypt$1024$8$1${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"

    assert verify_password("pw", encoded)
    assert not verify_password("other", encoded)


def test_stdlib_one_liner_hash_accepted() -> None:
    salt = b"\x01" * 16
    key = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 600_000)
    salt_text, key_text = base64.b64encode(salt).decode(), base64.b64encode(key).decode()
    encoded = f"pbkdf2_sha256$600000${salt_text}${key_text}"

    assert verify_password("pw", encoded)


@pytest.mark.parametrize("encoded", [
    "", "plain-text-password", "md5$1$a$b", "pbkdf2_sha256$abc$AAAA$AAAA",
    "pbkdf2_sha256$1000$not base64!$AAAA", "pbkdf2_sha256$10$AAAA$AAAA",
])
def test_malformed_hash_rejected(encoded: str) -> None:
    with pytest.raises(ValueError, match="password hash"):
        check_hash_format(encoded)


async def test_login_issues_session() -> None:
    auth = Authenticator(make_settings(), VirtualClock(1000.0))
    token, principal = await auth.login("alice", PASSWORDS["alice"])

    assert principal == Principal("alice", "Alice", "agent", "alice")
    assert auth.authenticate(token) == principal
    assert auth.authenticate_header(f"Bearer {token}") == principal


async def test_session_expires() -> None:
    clock = VirtualClock(1000.0)
    auth = Authenticator(make_settings(session_ttl=60), clock)
    token, _ = await auth.login("bob", PASSWORDS["bob"])
    clock.advance(61)

    with pytest.raises(AuthError, match="expired"):
        auth.authenticate(token)


async def test_lockout_after_failures() -> None:
    clock = VirtualClock(1000.0)
    auth = Authenticator(make_settings(login_attempts=3, login_lockout=30), clock)
    for _ in range(3):
        with pytest.raises(AuthError) as failure:
            await auth.login("alice", "wrong")
        assert failure.value.code == "unauthorized"

    with pytest.raises(AuthError) as locked:
        await auth.login("alice", PASSWORDS["alice"])
    clock.advance(31)
    token, _ = await auth.login("alice", PASSWORDS["alice"])

    assert locked.value.code == "locked"
    assert token


async def test_unknown_user_same_message() -> None:
    auth = Authenticator(make_settings(), VirtualClock())
    with pytest.raises(AuthError) as unknown:
        await auth.login("mallory", "x")
    with pytest.raises(AuthError) as wrong:
        await auth.login("alice", "x")

    assert str(unknown.value) == str(wrong.value)


def test_api_token_from_environment() -> None:
    settings = make_settings(users=[{"id": "crm", "role": "supervisor", "token_env": "CRM_TOKEN"},
                                    {"id": "bot", "role": "admin", "token_env": "UNSET_TOKEN"}])
    auth = Authenticator(settings, VirtualClock(), environ={"CRM_TOKEN": "t0ken-value"})

    assert auth.authenticate("t0ken-value").user_id == "crm"
    with pytest.raises(AuthError):
        auth.authenticate("")
    with pytest.raises(AuthError):
        auth.authenticate("t0ken-valu")
    with pytest.raises(AuthError, match="Bearer"):
        auth.authenticate_header("Basic dXNlcjpwdw==")


def test_roles_and_permissions() -> None:
    agent = Principal("alice", "Alice", "agent", "alice")
    supervisor = Principal("sam", "Sam", "supervisor")

    agent.check_can_act("alice")
    agent.check_can_view("alice")
    supervisor.check_can_view("alice")
    supervisor.check_can_set_status("alice")
    supervisor.check_supervisor()
    denied_checks: list[Callable[[], None]] = [
        lambda: agent.check_can_act("bob"),
        lambda: agent.check_can_view("bob"),
        agent.check_supervisor,
        lambda: supervisor.check_can_act("alice"),
    ]
    for check in denied_checks:
        with pytest.raises(AuthError) as denied:
            check()
        assert denied.value.code == "forbidden"
