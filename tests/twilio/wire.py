"""Recorded Twilio webhooks: raw HTTP requests kept as files under ``transcripts/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRANSCRIPTS = Path(__file__).parent / "transcripts"
AUTH_TOKEN = "d41d8cd98f00b204e9800998ecf8427e"
ACCOUNT_SID = "AC" + "3f" * 16
CALL_SID = "CA" + "7b" * 16
PUBLIC_URL = "https://voice.example.test"


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request as it crossed the wire."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def load(name: str) -> RawRequest:
    """Read ``transcripts/<name>`` and split it into request line, headers and body."""
    return parse((TRANSCRIPTS / name).read_bytes())


def parse(data: bytes) -> RawRequest:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    method, target, _version = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return RawRequest(method, target, headers, body)
