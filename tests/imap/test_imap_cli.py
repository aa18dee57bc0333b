"""`intake imap backfill` and `intake imap check`, run as the real command against Dovecot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.imap.conftest import mail

ROOT = Path(__file__).resolve().parents[2]


def intake(tmp_path: Path, urls: list[str], *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    environ.update(INTAKE_DATA_DIR=str(tmp_path / "data"), INTAKE_IMAP_URLS=",".join(urls),
                   INTAKE_IMAP_PASSWORD="secret", PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "intake.cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=600)


def seed(dovecot, count: int, start: int, when: datetime, seen: bool) -> None:  # noqa: ANN001
    client = dovecot.client()
    try:
        for first in range(start, start + count, 500):
            client.multiappend("INBOX", [
                {"msg": mail(n), "date": when, "flags": [b"\\Seen"] if seen and n % 2 else []}
                for n in range(first, min(start + count, first + 500))])
    finally:
        client.logout()


@pytest.mark.slow
def test_backfill_2000_messages_read_or_not_since_a_date(dovecot, tmp_path):
    # Half of each kind were read in a mail client already: backfill takes them all the same.
    seed(dovecot, 1500, 1, datetime(2020, 1, 1, 12), seen=True)  # older than --since
    seed(dovecot, 500, 1501, datetime(2025, 6, 1, 12), seen=True)
    recent = intake(tmp_path, [dovecot.url()], "imap", "backfill", "--since", "2024-01-01",
                    "--json")
    assert recent.returncode == 0, recent.stderr
    [result] = json.loads(recent.stdout)
    assert (result["ok"], result["read"], result["new"]) == (True, 500, 500)
    everything = intake(tmp_path, [dovecot.url()], "imap", "backfill", "--json")
    [result] = json.loads(everything.stdout)
    assert (result["read"], result["new"], result["duplicate"]) == (2000, 1500, 500)
    listed = intake(tmp_path, [], "items", "list", "--channel", "imap", "--limit", "5000",
                    "--json")
    assert len(json.loads(listed.stdout)) == 2000
    check = intake(tmp_path, [dovecot.url()], "imap", "check", "--json")
    [found] = json.loads(check.stdout)
    assert found["messages"] == 2000
    assert found["checkpoint"] == {}  # backfill leaves the poller's checkpoint alone


def test_check_reports_each_mailbox_and_a_clear_error_for_the_bad_one(dovecot, tmp_path):
    dovecot.append([mail(1), mail(2)])
    urls = [dovecot.url(user="other@example.org"), dovecot.url()]
    shown = intake(tmp_path, urls, "imap", "check")
    assert shown.returncode == 1
    assert "login refused" in shown.stdout and "other@example.org" in shown.stdout
    assert "2 message(s)" in shown.stdout and "IDLE yes" in shown.stdout
    assert "secret" not in shown.stdout + shown.stderr
    bad, good = json.loads(intake(tmp_path, urls, "imap", "check", "--json").stdout)
    assert (bad["ok"], good["ok"]) == (False, True)
    assert "login refused" in bad["error"]
    assert good["messages"] == 2 and good["idle"] and "IDLE" in good["capabilities"]
    assert good["checkpoint"] == {}


def test_backfill_one_mailbox_by_url_and_bad_mailbox_errors(dovecot, tmp_path):
    dovecot.append([mail(1)])
    result = intake(tmp_path, [], "imap", "backfill", "--mailbox", dovecot.url(), "--json")
    assert json.loads(result.stdout)[0]["new"] == 1
    wrong = intake(tmp_path, [], "imap", "backfill", "--mailbox",
                   dovecot.url(folder="Nope"))
    assert wrong.returncode == 1 and "cannot open folder 'Nope'" in wrong.stdout
    nothing = intake(tmp_path, [], "imap", "check")
    assert nothing.returncode == 2 and "INTAKE_IMAP_URLS" in nothing.stderr
