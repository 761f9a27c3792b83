"""Building the Twilio connector for the engine from its configuration."""

from __future__ import annotations

from collections.abc import Mapping

from santral.clock import Clock
from santral.events import EventBus
from santral.telephony.base import CallFlow
from santral.telephony.twilio.connector import TwilioConnector
from santral.telephony.twilio.session import EngineSessionStore, KeyValueSessions
from santral.telephony.twilio.settings import TwilioSettings


def create_connector(
    settings: TwilioSettings,
    calls: CallFlow,
    *,
    clock: Clock,
    bus: EventBus,
    store: KeyValueSessions | None,
    public_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> TwilioConnector | None:
    """Return the connector if the settings and environment enable it, else None.

    ``store`` is the engine's store, which keeps the call sessions; ``public_url`` is the
    top-level ``public_url`` of the configuration. The connector's ``start()`` raises
    ``TwilioSetupError`` when it is enabled but a secret or the public URL is missing.
    """
    if not settings.is_enabled(public_url, environ):
        return None
    return TwilioConnector(
        settings,
        calls,
        clock=clock,
        bus=bus,
        store=EngineSessionStore(store) if store is not None else None,
        public_url=public_url,
        environ=environ,
    )
