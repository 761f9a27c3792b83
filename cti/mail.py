"""Email: an SMTP listener turns mail into interactions; agents' replies go out by SMTP.

The adapter is thin. Each new message becomes an email interaction routed by the first
matching rule (recipient, subject or body pattern, sender's language). A reply in the same
thread (``In-Reply-To`` or ``References`` naming a message santral saw or sent) joins the
open interaction. Attachments are kept on disk next to the raw message. A message is
accepted (``250``) only once it is recorded; mail that is malformed, too large or has an
attachment over the limit is rejected with an SMTP error, so the sender is told.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from cti.channel_settings import EmailSettings, Route
from cti.ports import DeskError
from ivr.actions import QueueResult
from santral import events as ev
from santral.acd_service import AcdService, EnqueueRequest
from santral.config import read_secret
from santral.events import EventBus

log = structlog.get_logger(__name__)

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class EmailRejected(Exception):
    """A message that must be refused; ``reply`` is the SMTP reply line."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        super().__init__(reply)


class EmailAdapter:
    """Receives mail over SMTP and sends agents' replies through the configured relay."""

    channel = "email"

    def __init__(
        self, settings: EmailSettings, acd: AcdService, bus: EventBus, *, base_dir: Path
    ) -> None:
        self._settings = settings
        self._acd = acd
        folder = settings.attachments_folder
        self._folder = folder if folder.is_absolute() else base_dir / folder
        self._server: asyncio.Server | None = None
        self._threads: dict[str, str] = {}  # Message-ID -> interaction id
        self._customers: dict[str, dict[str, str]] = {}  # interaction id -> reply details
        self.port = 0
        acd.register_channel(self.channel, self)
        bus.subscribe(self._on_event)

    # Lifecycle

    async def start(self) -> None:
        """Listen for SMTP on the configured address."""
        loop = asyncio.get_running_loop()
        limit = self._settings.max_message_size
        self._server = await loop.create_server(
            lambda: SMTP(_Handler(self), data_size_limit=limit, enable_SMTPUTF8=True),
            self._settings.listen_host,
            self._settings.listen_port,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("email_listening", smtp=f"{self._settings.listen_host}:{self.port}")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # Incoming mail

    async def receive(self, envelope: Envelope) -> str:
        """Record one message; return the SMTP reply (``250`` only once it is kept)."""
        try:
            message = _parse(envelope)
            attachments = _attachments(message, self._settings.max_attachment_size)
        except EmailRejected as error:
            log.warning("email_rejected", reply=error.reply, sender=envelope.mail_from)
            return error.reply
        interaction_id = self._thread_of(message)
        if interaction_id is None:
            interaction_id = self._open_interaction(message, envelope)
            if interaction_id is None:
                return "451 4.3.0 no queue can take this message now; try again later"
        saved = await asyncio.to_thread(
            self._save, interaction_id, envelope.original_content or b"", attachments
        )
        self._remember(interaction_id, message, envelope)
        self._acd.record_message(
            interaction_id,
            "in",
            _sender(message, envelope),
            _body_text(message),
            message_id=str(message.get("Message-ID", "")),
            subject=str(message.get("Subject", "")),
            attachments=saved,
        )
        log.info("email_received", interaction_id=interaction_id, attachments=len(saved))
        return "250 2.0.0 message accepted"

    def _thread_of(self, message: EmailMessage) -> str | None:
        references = f"{message.get('In-Reply-To', '')} {message.get('References', '')}"
        for message_id in reversed(re.findall(r"<[^>]+>", references)):
            interaction_id = self._threads.get(message_id)
            if interaction_id is not None and self._acd.interaction(interaction_id) is not None:
                return interaction_id
        return None

    def _open_interaction(self, message: EmailMessage, envelope: Envelope) -> str | None:
        route = self._route(message, envelope)
        if route is None:
            log.error("email_no_route", sender=envelope.mail_from)
            return None
        sender = _sender(message, envelope)
        subject = str(message.get("Subject", ""))
        request = EnqueueRequest(
            channel=self.channel,
            queue=route.queue,
            caller=sender,
            called=",".join(envelope.rcpt_tos),
            skills=dict(route.skills),
            language=route.language,
            priority=route.priority,
            attributes={"subject": subject, "from": sender, "messages": []},
            pop={"caller_name": parseaddr(str(message.get("From", "")))[0], "subject": subject},
        )
        outcome = self._acd.enqueue(request)
        return None if isinstance(outcome, QueueResult) else outcome

    def _route(self, message: EmailMessage, envelope: Envelope) -> Route | None:
        recipients = [address.lower() for address in envelope.rcpt_tos]
        subject = str(message.get("Subject", ""))
        body = _body_text(message)
        language = str(message.get("Content-Language", "")).split("-")[0].strip().lower()
        for rule in self._settings.rules:
            if rule.to and rule.to.lower() not in recipients:
                continue
            if rule.subject and not re.search(rule.subject, subject, re.IGNORECASE):
                continue
            if rule.body and not re.search(rule.body, body, re.IGNORECASE):
                continue
            if rule.sender_language and rule.sender_language.lower() != language:
                continue
            return rule
        return self._settings.default_route

    def _save(
        self, interaction_id: str, raw: bytes, attachments: list[tuple[str, str, bytes]]
    ) -> list[dict[str, Any]]:
        folder = self._folder / SAFE_NAME.sub("_", interaction_id)
        folder.mkdir(parents=True, exist_ok=True)
        count = len(list(folder.glob("*.eml"))) + 1
        (folder / f"{count:03d}.eml").write_bytes(raw)
        saved = []
        for name, content_type, data in attachments:
            path = folder / f"{count:03d}-{SAFE_NAME.sub('_', name) or 'attachment'}"
            path.write_bytes(data)
            saved.append(
                {"name": name, "content_type": content_type, "size": len(data), "path": str(path)}
            )
        return saved

    def _remember(self, interaction_id: str, message: EmailMessage, envelope: Envelope) -> None:
        message_id = str(message.get("Message-ID", "")).strip()
        if message_id:
            self._threads[message_id] = interaction_id
        details = self._customers.setdefault(interaction_id, {})
        details.update(
            address=parseaddr(str(message.get("Reply-To") or message.get("From") or ""))[1]
            or str(envelope.mail_from),
            subject=str(message.get("Subject", "")),
            last_id=message_id,
            references=f"{message.get('References', '')} {message_id}".strip(),
            to=envelope.rcpt_tos[0] if envelope.rcpt_tos else self._settings.from_address,
        )

    def _on_event(self, event: ev.Event) -> None:
        # A transferred thread goes on under a new interaction; see moved().
        if isinstance(event, ev.InteractionEnded) and event.outcome != "transferred":
            self._customers.pop(event.interaction_id, None)

    def moved(self, old_id: str, new_id: str) -> None:
        """Send replies and later mail of the thread to the interaction it was transferred to."""
        details = self._customers.pop(old_id, None)
        if not new_id:
            return
        if details is not None:
            self._customers[new_id] = details
        for message_id, interaction_id in self._threads.items():
            if interaction_id == old_id:
                self._threads[message_id] = new_id
        log.info("email_transferred", old_interaction_id=old_id, interaction_id=new_id)

    # Outgoing replies

    async def deliver(self, interaction_id: str, agent_id: str, text: str) -> str:
        details = self._customers.get(interaction_id)
        if details is None:
            raise DeskError("no customer address for this email", "invalid_state")
        reply = EmailMessage()
        domain = self._settings.from_address.rpartition("@")[2] or None
        message_id = make_msgid(domain=domain)
        subject = details["subject"]
        reply["From"] = details["to"] or self._settings.from_address
        reply["To"] = details["address"]
        reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        reply["Message-ID"] = message_id
        if details["last_id"]:
            reply["In-Reply-To"] = details["last_id"]
            reply["References"] = details["references"]
        reply.set_content(text)
        await aiosmtplib.send(
            reply,
            hostname=self._settings.relay_host,
            port=self._settings.relay_port,
            username=self._settings.relay_username or None,
            password=read_secret(self._settings.relay_password_env),
            start_tls=self._settings.relay_starttls,
            timeout=30,
        )
        self._threads[message_id] = interaction_id
        details.update(references=f"{details['references']} {message_id}".strip())
        log.info("email_reply_sent", interaction_id=interaction_id, agent_id=agent_id)
        return message_id


class _Handler:
    """aiosmtpd handler: hands each message to the adapter, which decides the reply."""

    def __init__(self, adapter: EmailAdapter) -> None:
        self._adapter = adapter

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            return await self._adapter.receive(envelope)
        except Exception:
            log.exception("email_receive_failed", sender=envelope.mail_from)
            return "451 4.3.0 the message could not be stored; try again later"


def _parse(envelope: Envelope) -> EmailMessage:
    raw = envelope.original_content or envelope.content
    if not isinstance(raw, bytes) or not raw.strip():
        raise EmailRejected("554 5.6.0 empty message")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or message.defects:
        raise EmailRejected("554 5.6.0 malformed message: fix its headers and MIME structure")
    if not message.get("From"):
        raise EmailRejected("554 5.6.0 malformed message: the From header is missing")
    return message


def _attachments(message: EmailMessage, limit: int) -> list[tuple[str, str, bytes]]:
    attachments = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        name = part.get_filename() or "attachment"
        if len(data) > limit:
            raise EmailRejected(
                f"552 5.3.4 attachment {name!r} is {len(data)} bytes; the limit is {limit}"
            )
        attachments.append((name, part.get_content_type(), data))
    return attachments


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else ""


def _sender(message: EmailMessage, envelope: Envelope) -> str:
    return parseaddr(str(message.get("From", "")))[1] or str(envelope.mail_from or "")
