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
