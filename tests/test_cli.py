"""The `intake` command as a script sees it: exit codes, --json shapes, clear errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_email
from tests.test_pipeline import SAMPLE


@pytest.fixture
def run(tmp_path, sqlite_url):
    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path / "data"),
           "INTAKE_DATABASE_URL": sqlite_url}

    def intake(*args, ok=True):
        done = subprocess.run([sys.executable, "-m", "intake.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    intake.data_dir, intake.db_url = env["INTAKE_DATA_DIR"], sqlite_url
    return intake


def _deliver(tmp_path: Path, raw: bytes) -> None:
    """Put one message in as `intake serve` would (accept), without a server."""
    import asyncio

    from channels.contract import EMAIL, RawItem
    from intake.config import load_settings
    from intake.context import build_context
    from intake.pipeline.accept import accept

    async def go():
        ctx = build_context(load_settings({}, data_dir=tmp_path / "data",
                                          database_url=f"sqlite+aiosqlite:///{tmp_path}/intake.db"))
        try:
            await accept(ctx, RawItem("smtp", raw, EMAIL))
        finally:
            await ctx.close()

    asyncio.run(go())


def test_import_list_show_and_settle_an_item(run, tmp_path):
    imported = json.loads(run("briefs", "import", str(SAMPLE), "--json").stdout)
    assert imported["created"] == 6 and imported["rematched"] == 0
    briefs = json.loads(run("briefs", "list", "--json").stdout)
    ref = next(b["ref"] for b in briefs if b["response_id"] == "1002")
    _deliver(tmp_path, make_email(subject="video", body="no clue", sender="z@example.net",
                                  attachments=[("v.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 64,
                                                "video/mp4")]))
    assert json.loads(run("process", "--json").stdout) == {"processed": 1}
    [item] = json.loads(run("items", "list", "--status", "unmatched", "--json").stdout)
    assert set(item) >= {"id", "channel", "status", "brief_ref", "rule", "confidence", "flags",
                         "sender", "subject", "received_at", "error", "media", "candidates"}
    assert set(item["media"][0]) >= {"sha256", "kind", "mime", "size", "filename", "url"}
    run("items", "assign", str(item["id"]), ref, "--actor", "maria")
    shown = json.loads(run("items", "show", str(item["id"]), "--json").stdout)
    assert shown["status"] == "matched" and shown["brief_ref"] == ref
    assert shown["events"][0]["actor"] == "maria"
    brief = json.loads(run("briefs", "show", ref, "--json").stdout)
    assert [i["id"] for i in brief["items"]] == [item["id"]]
    assert "matched" in run("items", "list").stdout  # the human table


def test_errors_are_clear_and_exit_non_zero(run, tmp_path):
    (tmp_path / "notitle.csv").write_text("Response ID,Email\n1,a@example.org\n")
    done = run("briefs", "import", str(tmp_path / "notitle.csv"), ok=False)
    assert done.returncode == 2 and "missing column(s) title" in done.stderr
    done = run("items", "assign", "42", "HLH-00000-0", ok=False)
    assert done.returncode == 1 and "no item 42" in done.stderr
    done = run("items", "reject", "42", ok=False)
    assert done.returncode == 2 and "--reason" in done.stderr


def test_a_bad_setting_stops_with_its_name(run):
    env = {**os.environ, "INTAKE_SMTP_PORT": "eighty"}
    done = subprocess.run([sys.executable, "-m", "intake.cli", "items", "list"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "INTAKE_SMTP_PORT" in done.stderr


def test_db_upgrade_reports_the_revision(run):
    assert "database at revision 0" in run("db", "upgrade").stdout


def _env(run, **settings: str) -> dict:
    return {**os.environ, "INTAKE_DATA_DIR": run.data_dir, "INTAKE_DATABASE_URL": run.db_url,
            "INTAKE_SMTP_PORT": "0", "INTAKE_WEB_PORT": "0", **settings}


def test_a_setting_error_found_after_validation_is_one_line_before_anything_starts(
        run, tmp_path):
    """A relay needs our address: the check that knows it runs with the others, at start."""
    env = _env(run, INTAKE_SMTP_RELAY_URL="smtp://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-m", "intake.cli", "serve"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("intake: INTAKE_ACK_FROM: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "intake.db").exists()  # no database opened, no role started


def test_every_bad_setting_is_reported_at_once_one_line_each(run):
    env = _env(run, INTAKE_SMTP_RELAY_URL="smtp://acks@relay.example", INTAKE_WEB_SECRET="short",
               INTAKE_IMAP_URLS="imaps://a@h/INBOX,imaps://a@h:993/INBOX",
               INTAKE_TELEGRAM_WEBHOOK_URL="https://bot.example.org/hook",
               INTAKE_RESPONSE_ID_PATTERN="response (\\d+")
    done = subprocess.run([sys.executable, "-m", "intake.cli", "items", "list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("intake: INTAKE_") for line in lines), lines
    named = {line.split(":")[1].strip() for line in lines}
    assert named == {"INTAKE_SMTP_RELAY_URL", "INTAKE_ACK_FROM", "INTAKE_WEB_SECRET",
                     "INTAKE_IMAP_URLS", "INTAKE_TELEGRAM_WEBHOOK_URL",
                     "INTAKE_RESPONSE_ID_PATTERN"}, lines


def test_several_bad_values_are_one_line_each(run):
    env = _env(run, INTAKE_SMTP_PORT="eighty", INTAKE_REF_PREFIX="h1")
    done = subprocess.run([sys.executable, "-m", "intake.cli", "items", "list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["INTAKE_SMTP_PORT",
                                                              "INTAKE_REF_PREFIX"], lines
    assert all(line.startswith("intake: ") for line in lines)


def _deliver_many(tmp_path: Path, count: int) -> None:
    for n in range(count):
        _deliver(tmp_path, make_email(subject=f"video {n}", sender="z@example.net"))


def test_items_list_at_its_limit_says_how_to_go_on(run, tmp_path):
    run("db", "upgrade")
    _deliver_many(tmp_path, 3)
    first, second, third = (i["id"] for i in json.loads(run("items", "list", "--json").stdout))
    done = run("items", "list", "--limit", "2")
    assert len(done.stdout.splitlines()) == 3  # header and two items
    assert done.stderr == f"1 more: --after {second}\n"
    page = run("items", "list", "--limit", "2", "--json")
    assert [i["id"] for i in json.loads(page.stdout)] == [first, second] and page.stderr == ""
    rest = run("items", "list", "--limit", "2", "--after", str(second))
    assert len(rest.stdout.splitlines()) == 2 and rest.stderr == ""  # all there: nothing said
    exact = run("items", "list", "--limit", "3")
    assert exact.stderr == ""


def test_telegram_items_show_the_first_line_of_their_text_as_subject(run, tmp_path):
    import asyncio

    from sqlalchemy import update

    from channels.contract import TELEGRAM_UPDATE, RawItem
    from intake.config import load_settings
    from intake.context import build_context
    from intake.pipeline.accept import accept
    from store.models import Item

    run("db", "upgrade")
    update_json = json.dumps({"update_id": 7, "message": {
        "message_id": 3, "date": 1764000000, "chat": {"id": 42, "type": "private"},
        "caption": "Brigadas móviles de vacunación\nsegunda línea"}}).encode()

    async def go():
        ctx = build_context(load_settings({}, data_dir=tmp_path / "data",
                                          database_url=run.db_url))
        try:
            accepted = await accept(ctx, RawItem("telegram", update_json, TELEGRAM_UPDATE,
                                                 external_id="7"))
            async with ctx.db.writer()() as session, session.begin():  # as the chat analyser
                await session.execute(update(Item).where(Item.id == accepted.item_id).values(
                    status="unmatched", subject="", features={
                        "channel": "telegram",
                        "text": "Brigadas móviles de vacunación\nsegunda línea"}))
        finally:
            await ctx.close()

    asyncio.run(go())
    [header, row] = run("items", "list").stdout.splitlines()
    assert row.endswith(" Brigadas móviles de vacunación")


def test_output_into_a_closed_pipe_stops_quietly(run, tmp_path):
    """`intake items show 7 | head`: the reader went away; no BrokenPipeError traceback."""
    run("db", "upgrade")
    _deliver(tmp_path, make_email(subject="video", sender="z@example.net"))
    for args in (["items", "show", "1"], ["items", "list"], ["items", "list", "--json"]):
        child = subprocess.Popen([sys.executable, "-m", "intake.cli", *args],
                                 env=_env(run), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        child.stdout.close()  # before it writes a byte, as `head` does once it has enough
        stderr = child.stderr.read().decode()
        child.wait(timeout=120)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
        assert child.returncode == 141, stderr


def test_briefs_list_keeps_one_line_per_brief(run, tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_text('Response ID,Email,Title\n1,a@example.org,"Brigadas móviles\n'
                      'de vacunación\tregional"\n2,b@example.org,Digital register\n',
                      encoding="utf-8")
    run("briefs", "import", str(survey))
    lines = run("briefs", "list").stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[1].endswith(" Brigadas móviles de vacunación regional")
