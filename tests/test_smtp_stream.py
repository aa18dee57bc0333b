"""SMTP DATA streamed to disk, over real sockets: pipelining, bare LF, dot-stuffing, long lines,
a connection dropped mid-DATA, and 552 as soon as the limit is crossed."""

import asyncio
import hashlib
import os
import random
import socket

from sqlalchemy import select

from channels.smtp_spool import Unstuffer, clean_spool
from intake.pipeline.accept import raw_bytes
from store.models import Item
from tests.helpers import make_email, smtp_listener, wait_for


async def _items(ctx):
    async with ctx.db.reader()() as session:
        return list(await session.scalars(select(Item).order_by(Item.id)))


def _spool(ctx):
    folder = ctx.settings.spool_dir / "smtp"
    return sorted(folder.iterdir()) if folder.is_dir() else []


class Raw:
    """A bare SMTP client on a socket: writes exactly the bytes given, reads reply lines."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.file = self.sock.makefile("rb")
        self.reply()  # the banner

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One whole reply (its last line), multi-line EHLO answers included."""
        while True:
            line = self.file.readline()
            if not line or line[3:4] != b"-":
                return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _stuffed(message: bytes) -> bytes:
    """What a client sends for message (CRLF lines): lines starting with a dot get another."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def _unstuff_in_chunks(data: bytes, sizes: list[int]) -> tuple[bytes, bytes, bool]:
    unstuffer, out, rest, at = Unstuffer(), [], b"", 0
    for size in sizes:
        pieces, rest = unstuffer.feed(data[at:at + size])
        out += pieces
        at += size
        if unstuffer.done:
            break
    return b"".join(out), rest + data[at:], unstuffer.done


def test_unstuffing_is_the_same_whatever_the_chunk_boundaries():
    # a lone dot line is part of the message: the client sends it stuffed ("..")
    message = (b".starts with a dot\r\n..two dots\r\nbare\nLF\n.\nnot the end\r\n"
               + b"x" * 5000 + b"\r\n.\r\ntail\r\n")
    data = _stuffed(message) + b".\r\nQUIT\r\n"
    rng = random.Random(5)
    for _ in range(300):
        sizes = [rng.randint(1, 9) for _ in range(len(data))]
        out, rest, done = _unstuff_in_chunks(data, sizes)
        assert done and out == message and rest == b"QUIT\r\n"
    assert _unstuff_in_chunks(b".\r\n", [3]) == (b"", b"", True)  # an empty message


async def test_pipelined_messages_on_one_connection_are_each_kept(ctx):
    """A client that pipelines (RFC 2920) sends commands and data without waiting: what
    follows the end of data must not be lost in the DATA reader's chunk."""
    first = make_email(subject="first", attachments=[("a.mp4", os.urandom(100_000),
                                                        "video/mp4")])
    second = make_email(subject="second")
    envelope = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<v@intake.example>\r\nDATA\r\n"
    async with smtp_listener(ctx) as port:
        def talk():
            client = Raw(port)
            client.send(b"EHLO client\r\n")
            client.reply()
            # the second transaction rides in the same write as the end of the first
            client.send(envelope + _stuffed(first) + b".\r\n" + envelope + _stuffed(second)
                        + b".\r\nQUIT\r\n")
            replies = [client.reply() for _ in range(9)]
            client.close()
            return replies

        replies = await asyncio.to_thread(talk)
    assert [r[:3] for r in replies] == [b"250", b"250", b"354", b"250"] * 2 + [b"221"], replies
    kept = [await raw_bytes(ctx, item.id) for item in await _items(ctx)]
    assert kept == [first, second]
    assert _spool(ctx) == []


async def test_bare_lf_dot_stuffing_and_long_lines_come_through_byte_exact(ctx):
    message = (b"From: a@example.org\r\nTo: v@intake.example\r\nSubject: dots\r\n"
               b"Message-ID: <dots@example.org>\r\n\r\n"
               b".hidden dot line\r\n..two\r\nbare LF\n.\nis not the end\n"
               + b"y" * 200_000 + b"\r\n" + b"z" * 1200 + b"\r\n")
    async with smtp_listener(ctx) as port:
        def talk():
            client = Raw(port)
            for command in (b"EHLO c\r\n", b"MAIL FROM:<a@example.org>\r\n",
                            b"RCPT TO:<v@intake.example>\r\n", b"DATA\r\n"):
                client.send(command)
                client.reply()
            client.send(_stuffed(message) + b".\r\n")
            reply = client.reply()
            client.close()
            return reply

        assert (await asyncio.to_thread(talk)).startswith(b"250")
    [item] = await _items(ctx)
    assert item.raw_sha256 == hashlib.sha256(message).hexdigest()
    assert item.raw_size == len(message)
    assert await raw_bytes(ctx, item.id) == message


async def test_a_connection_dropped_mid_data_leaves_nothing(ctx):
    async with smtp_listener(ctx) as port:
        def talk():
            client = Raw(port)
            for command in (b"EHLO c\r\n", b"MAIL FROM:<a@example.org>\r\n",
                            b"RCPT TO:<v@intake.example>\r\n", b"DATA\r\n"):
                client.send(command)
                client.reply()
            client.send(b"Subject: cut\r\n\r\n" + b"x" * 76 * 40_000)  # 3 MB: on disk by now
            return client

        client = await asyncio.to_thread(talk)
        await wait_for(lambda: _async(_spool(ctx)))  # the server is writing it
        client.close()
        await wait_for(lambda: _async(not _spool(ctx)))
    assert await _items(ctx) == []


async def _async(value):
    return value


async def test_over_the_limit_gets_552_before_the_upload_ends(ctx):
    """The 552 comes as soon as the limit is crossed (readable while the client still
    sends); the rest is read and dropped, and the session goes on."""
    async with smtp_listener(ctx, max_bytes=100_000) as port:
        def talk():
            client = Raw(port)
            for command in (b"EHLO c\r\n", b"MAIL FROM:<a@example.org>\r\n",
                            b"RCPT TO:<v@intake.example>\r\n", b"DATA\r\n"):
                client.send(command)
                client.reply()
            client.send(b"Subject: big\r\n\r\n" + b"x" * 150_000 + b"\r\n")
            early = client.reply()  # before the end of data was sent
            client.send(b"more\r\n" * 1000 + b".\r\nNOOP\r\n")
            after = client.reply()
            client.close()
            return early, after

        early, after = await asyncio.to_thread(talk)
    assert early.startswith(b"552") and after.startswith(b"250")
    assert await _items(ctx) == [] and _spool(ctx) == []


def test_partial_spool_files_of_dead_processes_are_cleaned(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f"smtp-{dead}-abc.part").write_bytes(b"half a message")
    live = tmp_path / f"smtp-{os.getppid()}-def.part"  # another live SMTP process's
    live.write_bytes(b"in flight")
    assert clean_spool(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [live.name]
