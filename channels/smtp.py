"""SMTP/LMTP channel (aiosmtpd on the application's loop): mail in, 250 only once it is kept."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.contract import EMAIL, Accept, RawItem, Rejected, TryLater

log = logging.getLogger(__name__)

# One place maps the accept contract to SMTP replies.
REPLIES = {
    "ok": "250 2.0.0 Ok: queued as {item_id}",
    "duplicate": "250 2.0.0 Ok: already have it as {item_id}",
    TryLater: "451 4.3.0 Temporary local problem, please try again later",
    Rejected: "554 5.6.0 Message refused: {reason}",
    "unknown_recipient": "550 5.1.1 <{address}>: no such recipient here",
    "busy": "421 4.7.0 Too many connections, please try again later",
    "error": "451 4.3.0 Temporary local error",
}


@dataclass
class SmtpOptions:
    """What the SMTP listener needs from the settings (channels import nothing of ours)."""

    hostname: str = "intake.localhost"
    recipients: list[str] = field(default_factory=list)  # addresses and @domains; empty: any
    max_bytes: int = 50_000_000
    max_sessions: int = 32
    timeout: int = 300
    lmtp: bool = False
    tls_context: ssl.SSLContext | None = None
    # Text of the 552 reply to mail over max_bytes (e.g. where to upload it instead); one
    # ASCII line. Empty: aiosmtpd's own.
    oversize_text: str = ""


def recipient_allowed(address: str, allowed: list[str]) -> bool:
    """Accept only our own addresses and domains: never an open relay."""
    if not allowed:
        return True
    address = address.strip().strip("<>").lower()
    domain = "@" + address.rpartition("@")[2]
    return address in allowed or domain in allowed


class Handler:
    """aiosmtpd hooks: check recipients, hand DATA to accept, map its answer to a reply."""

    def __init__(self, accept: Accept, options: SmtpOptions) -> None:
        self.accept = accept
        self.options = options

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list
    ) -> str:
        if not recipient_allowed(address, self.options.recipients):
            return REPLIES["unknown_recipient"].format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        item = RawItem(
            channel="smtp",
            raw=bytes(envelope.original_content or b""),
            content_type=EMAIL,
            source={
                "mail_from": envelope.mail_from,  # "<>" for the null sender
                "rcpt_tos": list(envelope.rcpt_tos),
                "peer": str(session.peer[0]) if session.peer else None,
                "helo": session.host_name,
            },
        )
        reply = await self._reply_for(item)
        if self.options.lmtp:  # RFC 2033: one reply per accepted recipient
            return "\r\n".join([reply] * max(1, len(envelope.rcpt_tos)))
        return reply

    async def _reply_for(self, item: RawItem) -> str:
        try:
            accepted = await self.accept(item)
        except TryLater:
            return REPLIES[TryLater]
        except Rejected as exc:
            return REPLIES[Rejected].format(reason=str(exc)[:200])
        key = "duplicate" if accepted.duplicate else "ok"
        return REPLIES[key].format(item_id=accepted.item_id)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default is a permanent 500 that leaks the text; a bug here must make
        # the sender retry, not bounce.
        log.exception("SMTP session error", exc_info=error)
        return REPLIES["error"]


class _YieldingReader(asyncio.StreamReader):
    """readuntil() that lets the loop breathe: aiosmtpd reads DATA line by line, and while
    the buffer holds lines it never yields, so a 40 MB message froze the web app for
    seconds. Yielding every few hundred lines costs nothing measurable."""

    _lines = 0

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        self._lines += 1
        if self._lines % 256 == 0:
            await asyncio.sleep(0)
        return await super().readuntil(separator)


class _Gate:
    """Counts live sessions: aiosmtpd has no connection cap of its own."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0


def _protocol_class(lmtp: bool) -> type[SMTP]:
    base = LMTP if lmtp else SMTP

    class Capped(base):  # type: ignore[valid-type, misc]
        # Real senders exceed RFC 5321's 1000 octets (Outlook HTML bodies of 11,000+,
        # cron mail, gateways); a bounce would lose the video. It is a per-connection
        # buffer ceiling, and connections are capped.
        line_length_limit = 1 << 20

        def __init__(self, *args, gate: _Gate, oversize_text: str = "",  # noqa: ANN002
                     **kwargs) -> None:  # noqa: ANN003
            super().__init__(*args, **kwargs)
            self._gate = gate
            self._oversize = oversize_text

        async def push(self, status: str) -> None:
            # aiosmtpd's two 552 replies (SIZE= too big, DATA over the limit) say only
            # "too much"; ours can say where such a file can go instead.
            if self._oversize and status.startswith("552 Error"):
                status = f"552 5.3.4 {self._oversize}"
            await super().push(status)

        def _cb_client_connected(self, reader, writer) -> None:  # noqa: ANN001
            reader.__class__ = _YieldingReader  # same object, same state; see its docstring
            super()._cb_client_connected(reader, writer)

        async def _handle_client(self) -> None:
            if self._gate.active >= self._gate.limit:
                await self.push(REPLIES["busy"])
                self.transport.close()
                return
            self._gate.active += 1
            try:
                await super()._handle_client()
            finally:
                self._gate.active -= 1

    return Capped


async def start_smtp(
    accept: Accept, options: SmtpOptions, host: str, port: int
) -> asyncio.AbstractServer:
    """Listen on host:port (0 = any free port) on the running loop; close() it to stop."""
    handler = Handler(accept, options)
    gate = _Gate(options.max_sessions)
    protocol = _protocol_class(options.lmtp)

    def factory() -> SMTP:
        return protocol(
            handler,
            gate=gate,
            oversize_text=options.oversize_text,
            hostname=options.hostname,  # never socket.getfqdn(): a blocking DNS lookup
            data_size_limit=options.max_bytes,
            timeout=options.timeout,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=options.tls_context,
            require_starttls=False,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host=host, port=port)
    log.info("SMTP%s listening on %s", " (LMTP)" if options.lmtp else "",
             server.sockets[0].getsockname())
    return server
