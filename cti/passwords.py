"""Password hashes for CTI users, made and checked with the standard library only.

Two formats are accepted, so a hash can be made on any machine with Python and without
santral installed:

- ``pbkdf2_sha256$<iterations>$<salt base64>$<key base64>`` (PBKDF2-HMAC-SHA256)
- ``scrypt$<n>$<r>$<p>$<salt base64>$<key base64>``

docs/cti.md gives a one-line ``python3 -c`` command that prints a PBKDF2 hash;
``python -m cti.passwords`` does the same with santral installed.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import os

PBKDF2_ITERATIONS = 600_000  # OWASP Password Storage Cheat Sheet (2023) for HMAC-SHA-256
MIN_PBKDF2_ITERATIONS = 1_000


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Return a ``pbkdf2_sha256`` hash of ``password`` with a random 16-byte salt."""
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_encode(salt)}${_encode(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Check ``password`` against a hash in one of the two formats, in constant time.

    Slow on purpose (hundreds of milliseconds at the default iterations), so callers in
    the event loop run it in a thread. Raises ``ValueError`` for a malformed hash.
    """
    check_hash_format(encoded)
    parts = encoded.split("$")
    if parts[0] == "pbkdf2_sha256":
        salt, expected = _decode(parts[2]), _decode(parts[3])
        key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(parts[1]))
    else:
        n, r, p = (int(value) for value in parts[1:4])
        salt, expected = _decode(parts[4]), _decode(parts[5])
        key = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024,
            dklen=len(expected),
        )
    return hmac.compare_digest(key, expected)


def check_hash_format(encoded: str) -> None:
    """Raise ``ValueError`` naming the expected format unless ``encoded`` is a usable hash."""
    parts = encoded.split("$")
    expected_parts = {"pbkdf2_sha256": 4, "scrypt": 6}.get(parts[0])
    usage = "expected pbkdf2_sha256$<iterations>$<salt>$<key> or scrypt$<n>$<r>$<p>$<salt>$<key>"
    if expected_parts is None or len(parts) != expected_parts:
        raise ValueError(f"invalid password hash: {usage}")
    try:
        numbers = [int(value) for value in parts[1:expected_parts - 2]]
        for value in parts[-2:]:
            _decode(value)
    except (ValueError, binascii.Error) as error:
        raise ValueError(f"invalid password hash ({error}): {usage}") from error
    if parts[0] == "pbkdf2_sha256" and numbers[0] < MIN_PBKDF2_ITERATIONS:
        raise ValueError(f"password hash has {numbers[0]} iterations; use at least "
                         f"{MIN_PBKDF2_ITERATIONS}")


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


if __name__ == "__main__":
    print(hash_password(getpass.getpass("password: ")))
