"""Test helpers: build real emails, run a real SMTP listener on port 0, wait for conditions."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from channels.smtp import start_smtp
from intake.pipeline.accept import accept
from intake.serve import smtp_options


def make_email(
    subject: str = "Our video",
    body: str = "Please find our video attached.",
    sender: str = "someone@example.org",
    to: str = "videos@intake.example",
    attachments: list[tuple[str, bytes, str]] = (),
    message_id: str | None = "auto",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A real MIME message, CRLF line ends (what a mail client sends)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id == "auto":
        from email.utils import make_msgid

        msg["Message-ID"] = make_msgid(domain="example.org")
    elif message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP_POLICY)


@asynccontextmanager
async def smtp_listener(ctx, **option_overrides):
    """Our real SMTP channel on 127.0.0.1:<free port>, feeding `accept`."""
    options = smtp_options(ctx)
    for name, value in option_overrides.items():
        setattr(options, name, value)
    server = await start_smtp(lambda raw: accept(ctx, raw), options, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def send(port: int, raw: bytes, mail_from: str = "someone@example.org",
         rcpt: tuple[str, ...] = ("videos@intake.example",)) -> dict:
    """Deliver raw bytes with smtplib (blocking: call through asyncio.to_thread)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail(mail_from, list(rcpt), raw)


async def send_async(port: int, raw: bytes, **kw) -> dict:  # noqa: ANN003
    return await asyncio.to_thread(send, port, raw, **kw)


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):  # noqa: ANN001
    """Poll an async predicate until it returns something truthy (never a timing assert)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def drain(ctx) -> int:  # noqa: ANN001
    """Process every due item with a worker of its own, as `intake process` does."""
    from intake.pipeline.worker import Processor

    processor = Processor(ctx)
    try:
        return await processor.drain()
    finally:
        processor.close()


class FailingInserts:
    """The database refuses the first few item inserts (fault injection for accept, through
    store.item_inserts): on SQLite an authorizer that denies the statement, on PostgreSQL a
    trigger that raises, its count kept in a sequence, which a rollback does not undo."""

    def __init__(self, failures: int) -> None:
        self.failures, self.failed = failures, 0

    @classmethod
    async def install(cls, db, failures: int) -> FailingInserts:
        failing = cls(failures)
        if db.is_sqlite:
            db.items.add_connect_hook(lambda conn: conn.set_authorizer(failing._authorize))
        else:
            async with db.write.begin() as conn:
                for statement in _REFUSE_ON_POSTGRES:
                    await conn.exec_driver_sql(statement.format(failures=failures))
        return failing

    async def refused(self, db) -> int:
        """How many inserts were refused so far."""
        if db.is_sqlite:
            return self.failed
        async with db.write.connect() as conn:
            value, called = (await conn.exec_driver_sql(
                "SELECT last_value, is_called FROM test_refused_inserts")).one()
        return min(value if called else 0, self.failures)

    def _authorize(self, action, table, *_):  # noqa: ANN001, ANN002, ANN202
        # Asked as SQLite prepares a statement; a refused one is prepared again next time.
        if action == sqlite3.SQLITE_INSERT and table == "items" and self.failed < self.failures:
            self.failed += 1
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


_REFUSE_ON_POSTGRES = (
    "CREATE SEQUENCE IF NOT EXISTS test_refused_inserts",
    "ALTER SEQUENCE test_refused_inserts RESTART",
    """CREATE OR REPLACE FUNCTION test_refuse_insert() RETURNS trigger AS $$ BEGIN
        IF nextval('test_refused_inserts') <= {failures} THEN
            RAISE EXCEPTION 'disk I/O error (a test refuses this insert)';
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS test_refuse_insert ON items",
    """CREATE TRIGGER test_refuse_insert BEFORE INSERT ON items
        FOR EACH STATEMENT EXECUTE FUNCTION test_refuse_insert()""",
)
