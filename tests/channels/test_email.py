"""Email through real SMTP sessions: smtplib to the listener, replies to a local relay."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from santral.engine import Engine
from santral.reports.report import compute_report
from tests.engine.conftest import next_event


class Relay:
    """An SMTP server that keeps every message it receives, standing in for a mail relay."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = BytesParser(policy=default_policy).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.arrived.set()
        return "250 OK"


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    handler = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    yield handler, port
    server.close()
    await server.wait_closed()


@pytest.fixture
def engine_environ(tmp_path: Path, relay: tuple[Relay, int]) -> dict[str, str]:
    return {
        "SANTRAL_HTTP__PORT": "0",
        "SANTRAL_STORE__URL": f"sqlite:///{tmp_path / 'santral.db'}",
        "SANTRAL_EMAIL__LISTEN_PORT": "0",
        "SANTRAL_EMAIL__RELAY_PORT": str(relay[1]),
        "SANTRAL_EMAIL__MAX_ATTACHMENT_SIZE": "2048",
        "SANTRAL_EMAIL__ATTACHMENTS_FOLDER": str(tmp_path / "attachments"),
        "SANTRAL_ASTERISK__FASTAGI__PORT": "0",
    }


def customer_mail(subject: str, body: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ayşe Yılmaz <ayse@customer.example>"
    message["To"] = "billing@anadolu.example"
    message["Subject"] = subject
    message["Message-ID"] = headers.pop("message_id", "<first@customer.example>")
    message.set_content(body)  # before the headers: set_content replaces Content-* headers
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message


async def send(engine: Engine, message: EmailMessage) -> None:
    assert engine.email is not None
    port = engine.email.port

    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)

    await asyncio.to_thread(deliver)


def messages_of(engine: Engine, interaction_id: str) -> list[dict[str, Any]]:
    live = engine.acd.interaction(interaction_id)
    assert live is not None
    result: list[dict[str, Any]] = live.attributes["messages"]
    return result


async def test_email_thread_reaches_agent_and_back(
    engine: Engine, relay: tuple[Relay, int]
) -> None:
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    mail = customer_mail("Invoice question", "Why is my invoice higher this month?")
    mail.add_attachment(
        b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="bill.pdf"
    )
    await send(engine, mail)

    offer = await asyncio.wait_for(offered, 10)
    assert offer.queue == "billing"  # type: ignore[attr-defined]
    assert offer.channel == "email"  # type: ignore[attr-defined]
    interaction_id = offer.interaction_id  # type: ignore[attr-defined]
    await engine.acd.accept("alice", offer.offer_id)  # type: ignore[attr-defined]

    await engine.acd.send_message("alice", interaction_id, "Your tariff changed on the 1st.")
    handler, _ = relay
    await asyncio.wait_for(handler.arrived.wait(), 10)
    reply = handler.messages[0]
    assert reply["To"] == "ayse@customer.example"
    assert reply["Subject"] == "Re: Invoice question"
    assert reply["In-Reply-To"] == "<first@customer.example>"

    answer = customer_mail(
        "Re: Invoice question",
        "Thank you!",
        message_id="<second@customer.example>",
        In_Reply_To=str(reply["Message-ID"]),
        References=f"<first@customer.example> {reply['Message-ID']}",
    )
    await send(engine, answer)
    messages = messages_of(engine, interaction_id)
    assert [item["direction"] for item in messages] == ["in", "out", "in"]
    assert messages[2]["text"].strip() == "Thank you!"
    assert len(engine.acd.router.interactions()) == 1

    assert engine.store is not None
    await engine.store.flush()
    now = engine.clock.now()
    report = await compute_report(engine.store, now - 3600, now + 60, by="channel",
                                  interval_minutes=60)
    email_row = next(row for row in report.rows if row.key == "email")
    assert email_row.kpis.first_response is not None
    assert email_row.kpis.first_response >= 0


async def test_transferred_thread_replies_from_new_agent(
    engine: Engine, relay: tuple[Relay, int]
) -> None:
    await engine.acd.set_status("alice", "available")
    offered = next_event(engine, "offer_created", agent_id="alice")
    await send(engine, customer_mail("Invoice question", "Why is my invoice higher?"))
    offer = await asyncio.wait_for(offered, 10)
    first_id = offer.interaction_id  # type: ignore[attr-defined]
    await engine.acd.accept("alice", offer.offer_id)  # type: ignore[attr-defined]

    await engine.acd.set_status("bob", "available")
    offered_to_bob = next_event(engine, "offer_created", agent_id="bob")
    await engine.acd.transfer("alice", first_id, "agent", "bob", consult=False)
    transferred = await asyncio.wait_for(offered_to_bob, 10)
    second_id = transferred.interaction_id  # type: ignore[attr-defined]
    await engine.acd.accept("bob", transferred.offer_id)  # type: ignore[attr-defined]
    await engine.acd.send_message("bob", second_id, "Bob here: your tariff changed.")
    handler, _ = relay
    await asyncio.wait_for(handler.arrived.wait(), 10)
    reply = handler.messages[0]

    assert second_id != first_id
    assert reply["To"] == "ayse@customer.example"
    assert reply["In-Reply-To"] == "<first@customer.example>"
    assert engine.acd.agent_view("alice")["state"] == "wrap_up"

    answer = customer_mail(
        "Re: Invoice question",
        "Thanks, Bob!",
        message_id="<second@customer.example>",
        In_Reply_To=str(reply["Message-ID"]),
    )
    await send(engine, answer)
    messages = messages_of(engine, second_id)

    assert [item["direction"] for item in messages] == ["in", "out", "in"]
    assert len(engine.acd.router.interactions()) == 1


async def test_oversize_attachment_is_rejected(engine: Engine) -> None:
    mail = customer_mail("Big file", "See attached.")
    mail.add_attachment(
        b"x" * 4096, maintype="application", subtype="octet-stream", filename="big.bin"
    )
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await send(engine, mail)
    assert caught.value.smtp_code == 552
    assert engine.acd.router.interactions() == []


async def test_mail_without_sender_is_rejected(engine: Engine) -> None:
    mail = customer_mail("No sender", "Hello")
    del mail["From"]
    with pytest.raises(smtplib.SMTPDataError) as caught:
        await send(engine, mail)
    assert caught.value.smtp_code == 554
    assert engine.acd.router.interactions() == []


async def test_turkish_mail_routes_by_language(engine: Engine) -> None:
    queued = next_event(engine, "interaction_queued", channel="email")
    mail = customer_mail("Merhaba", "İnternetim çalışmıyor.", Content_Language="tr-TR")
    mail.replace_header("To", "info@anadolu.example")
    await send(engine, mail)
    event = await asyncio.wait_for(queued, 10)
    assert event.queue == "support"  # type: ignore[attr-defined]
    assert event.language == "tr"  # type: ignore[attr-defined]
