"""A poller killed mid-batch (SIGKILL) and restarted: every message is taken exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from channels.imap import parse_mailbox_url
from intake.context import build_context
from intake.mail.imap import load_checkpoint
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.imap.conftest import all_items, count_items, mail, wait_for
from tests.imap.test_imap_poller import ACCEPTED, flags_of

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 300


def _env(tmp_path: Path, url: str, dovecot) -> dict[str, str]:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(INTAKE_DATA_DIR=str(tmp_path / "data"), INTAKE_DATABASE_URL=url,
               INTAKE_IMAP_URLS=dovecot.url(), INTAKE_IMAP_PASSWORD="secret",
               INTAKE_IMAP_BATCH="20", INTAKE_IMAP_POLL_SECONDS="600",
               PYTHONPATH=str(ROOT))
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


async def _exit_code(process: subprocess.Popen, timeout: float = 60) -> int:
    return await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)


async def test_sigkill_mid_batch_and_restart_take_every_message_once(dovecot, tmp_path,
                                                                    sqlite_url):
    dovecot.append([mail(n) for n in range(1, MESSAGES + 1)])
    env = _env(tmp_path, sqlite_url, dovecot)
    log = tmp_path / "children.log"
    ctx = build_context(make_settings(tmp_path, sqlite_url))
    await upgrade(ctx.db)
    try:
        # 1. Killed right after the 7th accept: stored, not yet flagged, checkpoint not moved.
        child = _spawn(["-m", "tests.imap.poller_child", "7"], env, log)
        assert await _exit_code(child) == -signal.SIGKILL, log.read_text()
        assert await count_items(ctx) == 7
        assert not any(flags & ACCEPTED for flags in flags_of(dovecot).values())
        # 2. `intake serve --only imap`, killed from outside part-way through.
        serve = ["-m", "intake.cli", "serve", "--only", "imap"]
        child = _spawn(serve, env, log)
        try:
            await wait_for(lambda: _at_least(ctx, 100), 120, "the second run to get going")
        finally:
            child.send_signal(signal.SIGKILL)
        await _exit_code(child)
        # 3. Restarted: it finishes, and stops cleanly on SIGTERM.
        child = _spawn(serve, env, log)
        try:
            await wait_for(lambda: _checkpoint(ctx, dovecot, MESSAGES), 120, "the last run")
        finally:
            child.send_signal(signal.SIGTERM)
        assert await _exit_code(child) == 0, log.read_text()[-3000:]

        await assert_each_kept_once(ctx, dovecot, MESSAGES)
    finally:
        await ctx.close()


async def assert_each_kept_once(ctx, dovecot, count: int) -> None:  # noqa: ANN001
    """Messages m1..m<count>: one item each, and every one flagged as accepted."""
    items = await all_items(ctx)
    assert len(items) == count
    assert sorted(i.message_id for i in items) == sorted(
        f"m{n}@example.net" for n in range(1, count + 1))
    flags = flags_of(dovecot)
    assert len(flags) == count and all(f >= ACCEPTED for f in flags.values())


async def _at_least(ctx, n: int) -> bool:  # noqa: ANN001
    return await count_items(ctx) >= n


async def _checkpoint(ctx, dovecot, uid: int) -> bool:  # noqa: ANN001
    mark = await load_checkpoint(ctx, parse_mailbox_url(dovecot.url()).name)
    return mark.get("last_uid") == uid
