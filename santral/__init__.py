"""santral: a telephony-first IVR and ACD engine."""

__version__ = "0.1.0"
