"""`intake serve` as operators run it: --only roles, SIGTERM finishes in-flight work, JSON logs."""

from __future__ import annotations

import json
import logging
import socket
import sys

import pytest

from channels.contract import RawItem
from intake.cli.main import build_parser
from intake.context import build_context
from intake.ops.logs import JsonFormatter
from intake.pipeline.accept import accept
from intake.serve import STARTERS, _in_start_order
from store.migrate import upgrade
from store.models import Item
from tests.conftest import make_settings
from tests.helpers import wait_for
from tests.scale.procs import child_env, exit_code, says, serve, spawn, terminate
from tests.scale.slow_child import SLOW


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("text, roles", [
    ("worker", ["worker"]),
    ("smtp,worker", ["smtp", "worker"]),
    (" web , worker,web", ["web", "worker"]),
    ("smtp,imap,telegram,web,worker", ["smtp", "imap", "telegram", "web", "worker"]),
])
def test_only_takes_any_combination_of_roles(text, roles):
    assert build_parser().parse_args(["serve", "--only", text]).only == roles


@pytest.mark.parametrize("text", ["", "smtp,mail", "workers"])
def test_only_refuses_an_unknown_role(text, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--only", text])
    assert exit_.value.code == 2
    assert "unknown role" in capsys.readouterr().err


def test_roles_start_worker_first_whatever_the_order_given():
    # Closed in reverse: channels stop accepting before the worker finishes what it holds.
    assert _in_start_order(["telegram", "smtp", "imap", "web", "worker"]) == [
        "worker", "web", "smtp", "imap", "telegram"]
    assert set(STARTERS) == {"smtp", "imap", "telegram", "whatsapp", "web", "worker"}


async def test_sigterm_stops_accepting_and_finishes_the_item_in_hand(tmp_path, database_url):
    ctx = build_context(make_settings(tmp_path, database_url))
    await upgrade(ctx.db)
    port = _free_port()
    env = child_env(INTAKE_DATABASE_URL=database_url, INTAKE_DATA_DIR=str(tmp_path / "child"),
                    INTAKE_SMTP_PORT=str(port))
    log = tmp_path / "serve.log"
    child = spawn(["-m", "tests.scale.slow_child", str(tmp_path)], env, log)
    try:
        await wait_for(lambda: _async(says(log, "intake serving")), timeout=60)
        accepted = await accept(ctx, RawItem("smtp", b"slow one", SLOW, "slow-1"))
        await wait_for(lambda: _async((tmp_path / "started").exists()), timeout=60)
        child.send_signal(15)  # SIGTERM, as `docker stop` sends it
        # It stops accepting at once, but keeps running: the item is still in hand.
        await wait_for(lambda: _async(not _listening(port)), timeout=30)
        assert child.poll() is None, log.read_text()[-3000:]
        item = await _item(ctx, accepted.item_id)
        assert item.status == "received" and item.worker
        (tmp_path / "release").touch()
        assert await exit_code(child, 60) == 0, log.read_text()[-3000:]
        item = await _item(ctx, accepted.item_id)
        assert (item.status, item.worker) == ("unmatched", None)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        await ctx.close()


async def test_json_logs_when_asked(tmp_path, sqlite_url):
    env = child_env(INTAKE_DATABASE_URL=sqlite_url, INTAKE_DATA_DIR=str(tmp_path / "data"),
                    INTAKE_LOG_JSON="true")
    log = tmp_path / "serve.log"
    child = serve("worker", env, log)
    try:
        await wait_for(lambda: _async(says(log, "intake serving")), timeout=60)
        assert await terminate(child) == 0, log.read_text()[-3000:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert {"at", "level", "logger", "message"} <= set(lines[0])
    messages = [line["message"] for line in lines]
    assert "intake serving: worker" in messages and "shutting down" in messages


def test_json_log_lines_carry_the_traceback():
    try:
        raise ValueError("bad item")
    except ValueError:
        record = logging.LogRecord("intake.pipeline.worker", logging.ERROR, __file__, 1,
                                   "item %s failed", (7,), sys.exc_info())
    text = JsonFormatter().format(record)
    line = json.loads(text)
    assert line["message"] == "item 7 failed" and line["level"] == "ERROR"
    assert "ValueError: bad item" in line["error"] and "\n" not in text  # one line per record


async def _async(value):  # noqa: ANN001, ANN202 - wait_for wants an awaitable predicate
    return value


async def _item(ctx, item_id: int) -> Item:  # noqa: ANN001
    async with ctx.db.reader()() as session:
        return await session.get(Item, item_id)

