"""`intake users ...` run as a real command: the first admin, tokens, listing, changes."""

import json
import os
import subprocess
import sys

from intake.context import build_context
from intake.review.users import authenticate, by_token
from tests.conftest import make_settings


def _intake(tmp_path, sqlite_url, *args, stdin=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env.update(INTAKE_DATA_DIR=str(tmp_path / "data"), INTAKE_DATABASE_URL=sqlite_url)
    return subprocess.run([sys.executable, "-m", "intake.cli", "users", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


async def test_the_first_admin_and_a_token_from_the_command_line(tmp_path, sqlite_url):
    added = _intake(tmp_path, sqlite_url, "add", "root", "--role", "admin", "--password-stdin",
                    stdin="a long admin password\n")
    assert added.returncode == 0, added.stderr
    assert "user root added (admin)" in added.stdout
    token = _intake(tmp_path, sqlite_url, "token", "root")
    assert token.returncode == 0, token.stderr
    listed = _intake(tmp_path, sqlite_url, "list", "--json")
    [user] = json.loads(listed.stdout)
    assert user["name"] == "root" and user["role"] == "admin" and user["has_token"]
    ctx = build_context(make_settings(tmp_path, sqlite_url))
    try:
        assert (await by_token(ctx, token.stdout.strip())).name == "root"
        assert (await authenticate(ctx, "root", "a long admin password")).role == "admin"
        assert await authenticate(ctx, "root", "a long admin passwor") is None
    finally:
        await ctx.close()


def test_bad_input_is_refused_with_a_reason(tmp_path, sqlite_url):
    short = _intake(tmp_path, sqlite_url, "add", "x", "--role", "viewer", "--password-stdin",
                    stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    _intake(tmp_path, sqlite_url, "add", "root", "--role", "admin", "--password-stdin",
            stdin="a long admin password\n")
    twice = _intake(tmp_path, sqlite_url, "add", "root", "--role", "admin", "--password-stdin",
                    stdin="a long admin password\n")
    assert twice.returncode == 1 and "exists already" in twice.stderr
    last = _intake(tmp_path, sqlite_url, "set", "root", "--disable")
    assert last.returncode == 1 and "last admin" in last.stderr
    nobody = _intake(tmp_path, sqlite_url, "token", "nobody")
    assert nobody.returncode == 1 and "no user" in nobody.stderr
