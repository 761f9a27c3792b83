"""Authentication and authorization of CTI users.

A user proves who they are with a password (exchanged at ``POST /api/login`` for a session
token that expires) or with a long-lived API token read from the environment variable the
config names. Both travel as ``Authorization: Bearer <token>``; the WebSocket takes the
token in its first message instead, because browsers cannot set headers on it.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from cti.passwords import hash_password, verify_password
from cti.settings import CtiSettings, UserConfig
from santral.clock import Clock, SystemClock
from santral.errors import SantralError

log = structlog.get_logger(__name__)

MAX_SESSIONS_PER_USER = 20  # the oldest session ends when a user logs in once more


class AuthError(SantralError):
    """Missing or wrong credentials (``unauthorized``), a lockout, or a forbidden action."""

    def __init__(self, message: str, code: str = "unauthorized") -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """The authenticated user behind a request or a WebSocket."""

    user_id: str
    name: str
    role: str
    agent_id: str = ""

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")

    def to_dict(self) -> dict[str, str]:
        return {"user_id": self.user_id, "name": self.name, "role": self.role,
                "agent_id": self.agent_id}

    def check_can_view(self, agent_id: str) -> None:
        """Raise ``AuthError`` (forbidden) unless this user may see ``agent_id``."""
        if not self.is_supervisor and agent_id != self.agent_id:
            raise AuthError(f"user {self.user_id!r} may not see agent {agent_id!r}", "forbidden")

    def check_can_set_status(self, agent_id: str) -> None:
        """Raise unless this user is the agent or a supervisor (who may set any status)."""
        self.check_can_view(agent_id)

    def check_can_act(self, agent_id: str) -> None:
        """Raise unless this user is agent ``agent_id``: only agents handle their own work."""
        if not self.agent_id or agent_id != self.agent_id:
            raise AuthError(
                f"user {self.user_id!r} may not act for agent {agent_id!r}; agents act only "
                "for themselves", "forbidden"
            )

    def check_supervisor(self) -> None:
        if not self.is_supervisor:
            raise AuthError(f"user {self.user_id!r} is not a supervisor", "forbidden")


@dataclass
class _Session:
    user_id: str
    expires_at: float


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class Authenticator:
    """Checks passwords and tokens against the configured users and keeps login sessions."""

    settings: CtiSettings
    clock: Clock = field(default_factory=SystemClock)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _users: dict[str, UserConfig] = field(init=False, default_factory=dict)
    _api_tokens: dict[str, str] = field(init=False, default_factory=dict)  # token -> user id
    _sessions: dict[str, _Session] = field(init=False, default_factory=dict)
    _failures: dict[str, _Failures] = field(init=False, default_factory=dict)
    _unknown_user_hash: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._users = {user.id: user for user in self.settings.users}
        for user in self.settings.users:
            self._load_api_token(user)

    def _load_api_token(self, user: UserConfig) -> None:
        if not user.token_env:
            return
        token = self.environ.get(user.token_env, "")
        if not token:
            log.warning("cti_token_env_missing", user_id=user.id, env=user.token_env)
            return
        self._api_tokens[token] = user.id

    async def login(self, user_id: str, password: str) -> tuple[str, Principal]:
        """Check a password and return a new session token with the user.

        Raises ``AuthError``: ``unauthorized`` for an unknown user or a wrong password (the
        message does not tell which), ``locked`` after too many failures in a row.
        """
        now = self.clock.now()
        user = self._users.get(user_id)
        failures = self._failures.setdefault(user_id, _Failures()) if user else _Failures()
        if failures.locked_until > now:
            raise AuthError(f"too many failed logins for {user_id!r}; try again later", "locked")

        # An unknown user costs one hash like a known one, so timing does not tell them apart.
        encoded = user.password_hash if user and user.password_hash else self._dummy_hash()
        matches = await asyncio.to_thread(verify_password, password, encoded)
        if user is None or not user.password_hash or not matches:
            self._record_failure(user_id, failures, now)
            raise AuthError("unknown user or wrong password")

        self._failures.pop(user_id, None)
        return self._open_session(user, now), self._principal(user)

    def _dummy_hash(self) -> str:
        if not self._unknown_user_hash:
            self._unknown_user_hash = hash_password(secrets.token_hex(16))
        return self._unknown_user_hash

    def _record_failure(self, user_id: str, failures: _Failures, now: float) -> None:
        # Failures are kept only for configured users, so made-up names use no memory.
        failures.count += 1
        log.warning("cti_login_failed", user_id=user_id, known=user_id in self._users,
                    failures=failures.count)
        if failures.count >= self.settings.login_attempts:
            failures.count = 0
            failures.locked_until = now + self.settings.login_lockout

    def _open_session(self, user: UserConfig, now: float) -> str:
        own = [token for token, session in self._sessions.items() if session.user_id == user.id]
        for token in own[: max(0, len(own) - MAX_SESSIONS_PER_USER + 1)]:
            del self._sessions[token]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = _Session(user.id, now + self.settings.session_ttl)
        log.info("cti_login", user_id=user.id, role=user.role)
        return token

    def logout(self, token: str) -> None:
        """End the session of ``token``; API tokens stay valid (remove them from the env)."""
        self._sessions.pop(token, None)

    def authenticate(self, token: str) -> Principal:
        """Return the user of a session or API token; raise ``AuthError`` if none matches."""
        if not token:
            raise AuthError("missing credentials: send Authorization: Bearer <token>")
        session = self._sessions.get(token)
        if session is not None:
            if session.expires_at > self.clock.now():
                return self._principal(self._users[session.user_id])
            del self._sessions[token]
            raise AuthError("session expired; log in again")
        for api_token, user_id in self._api_tokens.items():
            if hmac.compare_digest(api_token.encode(), token.encode()):
                return self._principal(self._users[user_id])
        raise AuthError("invalid or expired token")

    def authenticate_header(self, header: str | None) -> Principal:
        """Authenticate an ``Authorization`` header value of the form ``Bearer <token>``."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            raise AuthError("missing credentials: send Authorization: Bearer <token>")
        return self.authenticate(token.strip())

    @staticmethod
    def _principal(user: UserConfig) -> Principal:
        return Principal(user.id, user.name or user.id, user.role, user.agent_id)
