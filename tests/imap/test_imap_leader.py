"""Two `intake serve --only imap` on PostgreSQL: one polls the mailbox, the other stands by and
takes over when the leader is killed, and every message becomes exactly one item."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from intake.context import build_context
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.imap.conftest import mail, wait_for
from tests.imap.test_imap_crash import (
    _at_least,
    _checkpoint,
    _env,
    _exit_code,
    _spawn,
    assert_each_kept_once,
)
from tests.scale.pg import pg_database

MESSAGES = 300
LEADS = "this process leads it"
STANDS_BY = "another process leads; standing by"


@pytest.fixture
def pg_url():
    yield from pg_database()


def _says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


async def test_the_standby_takes_over_when_the_leader_is_killed(dovecot, tmp_path, pg_url):
    dovecot.append([mail(n) for n in range(1, MESSAGES + 1)])
    env = _env(tmp_path, pg_url, dovecot)
    ctx = build_context(make_settings(tmp_path, pg_url))
    await upgrade(ctx.db)
    serve = ["-m", "intake.cli", "serve", "--only", "imap"]
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    first = _spawn(serve, env, log_a)
    second = None
    try:
        await wait_for(lambda: _says(log_a, LEADS), 60, "the first process to lead")
        second = _spawn(serve, env, log_b)
        await wait_for(lambda: _says(log_b, STANDS_BY), 60, "the second to stand by")
        await wait_for(lambda: _at_least(ctx, 60), 120, "the leader to get going")
        assert not _says(log_b, LEADS)  # never two pollers on one mailbox
        first.send_signal(signal.SIGKILL)  # mid-batch, no clean-up: PostgreSQL drops its lock
        await _exit_code(first)
        await wait_for(lambda: _says(log_b, LEADS), 60, "the standby to take over")
        await wait_for(lambda: _checkpoint(ctx, dovecot, MESSAGES), 120, "the last message")
        second.send_signal(signal.SIGTERM)
        assert await _exit_code(second) == 0, log_b.read_text()[-3000:]

        await assert_each_kept_once(ctx, dovecot, MESSAGES)
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
        await ctx.close()
