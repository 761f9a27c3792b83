"""The Twilio voice connector: signed webhooks, TwiML replies, agent legs over REST."""

from __future__ import annotations

from santral.telephony.twilio.connector import TwilioConnector
from santral.telephony.twilio.routes import setup_routes
from santral.telephony.twilio.session import (
    CallSession,
    EngineSessionStore,
    MemorySessionStore,
    SessionStore,
)
from santral.telephony.twilio.settings import TwilioCredentials, TwilioSettings, TwilioSetupError
from santral.telephony.twilio.webhook import Reply, Webhook

__all__ = [
    "CallSession",
    "EngineSessionStore",
    "MemorySessionStore",
    "Reply",
    "SessionStore",
    "TwilioConnector",
    "TwilioCredentials",
    "TwilioSettings",
    "TwilioSetupError",
    "Webhook",
    "setup_routes",
]
