"""The Asterisk connector: calls arrive over FastAGI, AMI watches channels and phones.

``agi`` and ``ami`` are the sans-I/O wire codecs, and ``agi_server`` and ``ami_client`` are
the asyncio layers on top. ``ami_events`` maps both Asterisk generations' events to one
set. ``connector`` (with ``call`` and ``media``) connects them to the engine.
"""

from __future__ import annotations

from santral.telephony.asterisk.settings import AmiSettings, AsteriskSettings, FastAgiSettings

__all__ = ["AmiSettings", "AsteriskSettings", "FastAgiSettings"]
