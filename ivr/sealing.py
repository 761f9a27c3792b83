"""Sensitive variables: sealed in the call state, masked everywhere else.

A variable is sensitive when an ``input`` node with ``sensitive: true`` collects it, when a
dialplan lists it under ``sensitive:``, or when a ``set`` node computes it from one. The
interpreter keeps its clear value only inside the state's ``sealed`` map, encrypted with
Fernet (AES-128-CBC with HMAC-SHA256), and puts the masked form in ``variables``. So the
state, ``SetVariables``, logs and CTI payloads never hold the clear value. It is decrypted
only to build the action that needs it: an HTTP data dip URL or body, or a read-back.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken

_PROCESS_SECRET = os.urandom(32)


def mask(value: object) -> str:
    """Return ``value`` with every character hidden except the last four of long values.

    Values shorter than eight characters (PINs, short codes) are hidden entirely.
    """
    text = "" if value is None else str(value)
    if len(text) < 8:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


class Sealer:
    """Encrypts and decrypts sensitive values with one key.

    Every engine process that may continue a call must use the same key, so production
    sets it in the environment variable named by ``ivr.secret_key_env``. Without it one
    random key is made per process (kept across dialplan reloads), and a call continued
    by another process or after a restart reads its sealed values as empty.
    """

    def __init__(self, secret: str | None) -> None:
        self.ephemeral = not secret
        material = secret.encode() if secret else _PROCESS_SECRET
        key = base64.urlsafe_b64encode(hashlib.sha256(material).digest())
        self._fernet = Fernet(key)

    @classmethod
    def from_environment(cls, variable: str) -> Sealer:
        return cls(os.environ.get(variable))

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def unseal(self, token: str) -> str | None:
        """Return the clear value, or None if the token was sealed with another key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None
