"""SIP connector: santral registers as SIP extensions, answers calls and relays agent audio.

Signalling uses pyVoIP 1.6.8's message parser and builders behind a fix layer
(``pyvoip_fixes``); transport, RTP, DTMF and prompt pacing run on the asyncio loop.
"""
