"""SMTP/LMTP channel (aiosmtpd on the application's loop): mail in, 250 only once it is kept."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.contract import EMAIL, Accept, RawItem, Rejected, SpoolFile, TryLater
from channels.smtp_spool import Sink, TooBig, Unstuffer, clean_spool

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
    "too_big": "552 5.3.4 Message too big for this system",
}

READ_CHUNK = 256 * 1024  # DATA is read in chunks of at most this, never line by line


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
    spool_dir: Path = Path("spool/smtp")  # DATA goes here as it arrives (same disk as blobs)
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
        spooled = getattr(envelope, "spooled", None)  # set by our DATA reader, see Capped
        item = RawItem(
            channel="smtp",
            raw=b"" if spooled else bytes(envelope.original_content or b""),
            spooled=spooled,
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


class _Gate:
    """Counts live sessions: aiosmtpd has no connection cap of its own."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0


class _StreamingData:
    """The DATA command of our SMTP/LMTP protocol (mixed in before aiosmtpd's class)."""

    _spool_dir: Path

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's command name
        """DATA streamed to a spool file as it arrives, replacing aiosmtpd's own.

        Why: aiosmtpd keeps every line of the message as a bytearray, then joins and
        un-stuffs them (about 4x the message in memory: 40 MB cost +161 MB) and reads
        line by line without yielding (a 40 MB message stalled the loop 204 ms). Here
        the data is read in chunks, un-stuffed, hashed and written as it comes
        (file work in a thread, by the MiB); a message over the limit gets 552 the
        moment it crosses it and the rest is read and dropped. The handler then gets
        a SpoolFile on envelope.spooled (or, for a small message, the bytes as usual).
        """
        if not await self._data_allowed(arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        sink = Sink(self._spool_dir, self.data_size_limit)
        try:
            if await self._receive(sink):
                await self._deliver(sink)
        finally:
            await asyncio.to_thread(sink.discard)  # accept moved it, or nothing is kept

    async def _data_allowed(self, arg: str) -> bool:
        # The checks of aiosmtpd's smtp_DATA, in its order and with its replies.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return False
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return False
        if arg:
            await self.push("501 Syntax: DATA")
            return False
        return True

    async def _receive(self, sink: Sink) -> bool:
        """Read to the end of data; False when it was too big (552 already sent)."""
        unstuffer, too_big = Unstuffer(), False
        while not unstuffer.done:
            # eof_received cancels this coroutine: a dropped connection ends here, and
            # the finally of smtp_DATA removes the spool file.
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                raise ConnectionResetError("connection closed during DATA")
            pieces, rest = unstuffer.feed(chunk)
            if too_big:
                continue
            try:
                sink.add(pieces)
            except TooBig:
                too_big = True
                await asyncio.to_thread(sink.discard)
                await self.push(REPLIES["too_big"])  # now, not after the whole upload
                continue
            if sink.wants_flush():
                await asyncio.to_thread(sink.write_pending)
        if rest:  # pipelined commands after the dot: give them back to the reader
            self._reader._buffer[:0] = rest  # noqa: SLF001 - StreamReader's own buffer
        if too_big:
            self._set_post_data_state()
        return not too_big

    async def _deliver(self, sink: Sink) -> None:
        raw = sink.in_memory()
        if raw is None:
            sha256 = await asyncio.to_thread(sink.finish)
            self.envelope.spooled = SpoolFile(sink.path, sink.size, sha256, bytes(sink.head))
            raw = b""
        self.envelope.content = self.envelope.original_content = raw
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)


def _protocol_class(lmtp: bool) -> type[SMTP]:
    base = LMTP if lmtp else SMTP

    class Capped(_StreamingData, base):  # type: ignore[valid-type, misc]
        # The limit of a command line, and the StreamReader's buffer ceiling (it pauses
        # the socket at twice this). DATA lines are not bound by it: _StreamingData reads
        # in chunks, so real senders' lines over RFC 5321's 1000 octets (Outlook HTML
        # bodies of 11,000+, cron mail, gateways) are accepted whatever their length.
        line_length_limit = 64 * 1024

        def __init__(self, *args, gate: _Gate, spool_dir: Path,  # noqa: ANN002
                     oversize_text: str = "", **kwargs) -> None:  # noqa: ANN003
            super().__init__(*args, **kwargs)
            self._gate = gate
            self._spool_dir = spool_dir
            self._oversize = oversize_text

        async def push(self, status: str) -> None:
            # aiosmtpd's two 552 replies (SIZE= too big, DATA over the limit) say only
            # "too much"; ours can say where such a file can go instead.
            if self._oversize and status.startswith("552 Error"):
                status = f"552 5.3.4 {self._oversize}"
            await super().push(status)

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
    await asyncio.to_thread(clean_spool, options.spool_dir)  # what a kill -9 left mid-DATA
    protocol = _protocol_class(options.lmtp)

    def factory() -> SMTP:
        return protocol(
            handler,
            gate=gate,
            spool_dir=options.spool_dir,
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
