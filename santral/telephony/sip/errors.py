"""Errors of the SIP connector, all under ``santral.errors.ConnectorError``."""

from __future__ import annotations

from santral.errors import ConnectorError


class SipParseError(ConnectorError):
    """A SIP message, SDP body or RTP packet is invalid or truncated."""
