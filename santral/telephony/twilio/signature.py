"""Twilio request signatures, without I/O.

Twilio signs each webhook with HMAC-SHA1, keyed by the account's auth token. The signed
text is the URL it requested (scheme, host, path and the query exactly as sent) followed
by every POST parameter name and value in sorted name order (twilio 9.13,
``twilio.request_validator.RequestValidator``). Behind a tunnel or reverse proxy the engine
receives another URL than the one Twilio signed, so the URL is rebuilt from the configured
public base URL and the raw request target. ``X-Forwarded-Proto`` and ``X-Forwarded-Host``
are used only when the direct peer is a configured proxy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FormParams = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an incoming request that its signature covers."""

    raw_target: str  # path and query exactly as on the request line, e.g. "/twilio/gather?a=1"
    params: FormParams
    signature: str
    peer_address: str = ""
    forwarded_proto: str = ""
    forwarded_host: str = ""


class MultiParams(dict[str, list[str]]):
    """Form parameters with every value kept, in the shape ``RequestValidator`` reads."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def is_trusted_proxy(peer_address: str, proxies: Sequence[ProxyNetwork]) -> bool:
    """Tell whether ``peer_address`` lies in one of the configured proxy networks."""
    try:
        address = ipaddress.ip_address(peer_address)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def signed_urls(
    request: SignedRequest, public_url: str, proxies: Sequence[ProxyNetwork]
) -> list[str]:
    """Return the URLs Twilio may have signed for ``request``, the configured one first.

    The public URL's path (a tunnel or proxy may mount santral under a prefix) is put in
    front of the raw target, and the query stays byte for byte as it arrived.
    """
    urls = [_join(public_url, request.raw_target)]
    if request.forwarded_host and is_trusted_proxy(request.peer_address, proxies):
        scheme = request.forwarded_proto.split(",")[0].strip() or urlsplit(public_url).scheme
        host = request.forwarded_host.split(",")[0].strip()
        prefix = urlsplit(public_url).path
        forwarded = _join(f"{scheme}://{host}{prefix}", request.raw_target)
        if forwarded not in urls:
            urls.append(forwarded)
    return urls


def is_valid(
    validator: RequestValidator,
    request: SignedRequest,
    public_url: str,
    proxies: Sequence[ProxyNetwork],
) -> bool:
    """Check the signature against every URL Twilio may have signed (with and without port)."""
    if not request.signature:
        return False
    urls = signed_urls(request, public_url, proxies)
    # One HMAC for the usual case; ``validate`` below also tries the URL with and without
    # the default port, which costs two more.
    expected = compute_signature(validator.token, urls[0], request.params)
    if hmac.compare_digest(expected, request.signature):
        return True
    params = MultiParams({name: list(values) for name, values in request.params.items()})
    for url in urls:
        try:
            if validator.validate(url, params, request.signature):
                return True
        except ValueError:
            # A forwarded host with an invalid port makes urllib raise on ``.port``.
            continue
    return False


def compute_signature(key: bytes, url: str, params: FormParams) -> str:
    """Compute Twilio's HMAC-SHA1 signature of ``url`` and the POST ``params``, in Base64.

    The signed text is built as ``RequestValidator.compute_signature`` of twilio 9.13 builds
    it: the URL, then for each distinct name in sorted order each of its distinct values in
    sorted order, name and value joined. This copy skips the library's per-call set and
    lookup overhead, which cost about as much as the HMAC itself.
    """
    parts = [url]
    for name in sorted(params):
        values = params[name]
        for value in sorted(set(values)) if len(values) > 1 else values:
            parts.append(name)
            parts.append(value)
    digest = hmac.new(key, "".join(parts).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(auth_token: str, url: str, params: FormParams) -> str:
    """Compute the signature Twilio would send for ``url`` and ``params`` (for peers and tests)."""
    multi = MultiParams({name: list(values) for name, values in params.items()})
    return str(RequestValidator(auth_token).compute_signature(url, multi))


def _join(base: str, raw_target: str) -> str:
    if not raw_target.startswith("/"):
        raw_target = "/" + raw_target
    return base.rstrip("/") + raw_target
