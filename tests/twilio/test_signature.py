"""Signature validation on recorded webhooks: public URL, query order, proxies."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from santral.telephony.twilio.form import parse_form
from santral.telephony.twilio.signature import (
    MultiParams,
    SignedRequest,
    compute_signature,
    is_valid,
    sign,
    signed_urls,
)
from tests.twilio.wire import AUTH_TOKEN, PUBLIC_URL, RawRequest, load

VALIDATOR = RequestValidator(AUTH_TOKEN)
PROXY = [ipaddress.ip_network("10.0.0.0/8")]


def signed(raw: RawRequest, peer: str = "127.0.0.1", body: bytes | None = None) -> SignedRequest:
    return SignedRequest(
        raw_target=raw.target,
        params=parse_form(raw.body if body is None else body),
        signature=raw.headers.get("X-Twilio-Signature", ""),
        peer_address=peer,
        forwarded_proto=raw.headers.get("X-Forwarded-Proto", ""),
        forwarded_host=raw.headers.get("X-Forwarded-Host", ""),
    )


@pytest.mark.parametrize(
    "name",
    [
        "voice_inbound.http",
        "gather_digits_terminator.http",
        "gather_empty_digits.http",
        "gather_no_digits.http",
        "gather_speech.http",
        "status_completed.http",
        "dial_no_answer.http",
    ],
)
def test_recorded_webhooks_validate(name: str) -> None:
    assert is_valid(VALIDATOR, signed(load(name)), PUBLIC_URL, [])


def test_action_query_kept_in_original_order() -> None:
    raw = load("action_query_order.http")
    assert raw.target == "/twilio/gather?step=3&z=%7E1&a=b%20c&a=a"
    assert is_valid(VALIDATOR, signed(raw), PUBLIC_URL, [])


@pytest.mark.parametrize(
    "rewritten",
    [
        "/twilio/gather?a=a&a=b%20c&step=3&z=%7E1",  # sorted
        "/twilio/gather?step=3&z=~1&a=b+c&a=a",  # re-encoded
        "/twilio/gather?step=3&z=%7e1&a=b%20c&a=a",  # lower-case escape
    ],
)
def test_sorted_or_reencoded_query_is_rejected(rewritten: str) -> None:
    raw = load("action_query_order.http")
    changed = RawRequest(raw.method, rewritten, raw.headers, raw.body)
    assert not is_valid(VALIDATOR, signed(changed), PUBLIC_URL, [])


def test_public_url_with_default_port_validates() -> None:
    raw = load("voice_inbound.http")
    assert is_valid(VALIDATOR, signed(raw), "https://voice.example.test:443", [])


def test_engine_url_is_not_the_signed_url() -> None:
    raw = load("voice_inbound.http")
    assert not is_valid(VALIDATOR, signed(raw), "http://127.0.0.1:8080", [])


def test_public_url_prefix_is_put_before_path() -> None:
    raw = load("voice_inbound.http")
    urls = signed_urls(signed(raw), "https://example.test/pbx", [])
    assert urls == ["https://example.test/pbx/twilio/voice"]


def test_forwarded_host_trusted_only_from_proxy() -> None:
    raw = load("voice_behind_proxy.http")
    tunnel_url = "https://other-name.example.test"
    assert is_valid(VALIDATOR, signed(raw, peer="10.1.2.3"), tunnel_url, PROXY)
    assert not is_valid(VALIDATOR, signed(raw, peer="192.0.2.7"), tunnel_url, PROXY)


def test_forwarded_host_from_stranger_is_ignored() -> None:
    raw = load("voice_behind_proxy.http")
    request = signed(raw, peer="192.0.2.7")
    assert signed_urls(request, "https://other-name.example.test", PROXY) == [
        "https://other-name.example.test/twilio/voice"
    ]


def test_tampered_body_is_rejected() -> None:
    raw = load("gather_digits_terminator.http")
    body = raw.body.replace(b"Digits=12345", b"Digits=99999")
    assert not is_valid(VALIDATOR, signed(raw, body=body), PUBLIC_URL, [])


def test_missing_signature_is_rejected() -> None:
    raw = load("voice_inbound.http")
    headers = {k: v for k, v in raw.headers.items() if k != "X-Twilio-Signature"}
    unsigned = RawRequest(raw.method, raw.target, headers, raw.body)
    assert not is_valid(VALIDATOR, signed(unsigned), PUBLIC_URL, [])


def test_other_token_is_rejected() -> None:
    raw = load("voice_inbound.http")
    assert not is_valid(RequestValidator("another-token"), signed(raw), PUBLIC_URL, [])


def test_forwarded_host_with_bad_port_is_rejected() -> None:
    raw = load("voice_behind_proxy.http")
    headers = dict(raw.headers, **{"X-Forwarded-Host": "voice.example.test:99999x"})
    changed = RawRequest(raw.method, raw.target, headers, raw.body)
    assert not is_valid(VALIDATOR, signed(changed, peer="10.0.0.1"), "https://x.test", PROXY)


def test_sign_matches_twilio_validator() -> None:
    raw = load("gather_speech.http")
    params = parse_form(raw.body)
    url = PUBLIC_URL + raw.target
    expected = VALIDATOR.compute_signature(url, {k: v[0] for k, v in params.items()})
    assert sign(AUTH_TOKEN, url, params) == expected


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10), st.lists(st.text(max_size=12), min_size=1, max_size=3)
    ),
    st.text(max_size=30),
)
def test_compute_signature_matches_twilio(params: dict[str, list[str]], query: str) -> None:
    url = f"{PUBLIC_URL}/twilio/gather?{query}"
    expected = VALIDATOR.compute_signature(url, MultiParams(params))
    assert compute_signature(AUTH_TOKEN.encode(), url, params) == expected
