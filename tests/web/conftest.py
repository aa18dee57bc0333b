"""Web fixtures: a context on SQLite (or both databases), users, items made by the real pipeline,
and a signed-in aiohttp test client."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.contract import EMAIL, RawItem
from intake.context import build_context
from intake.pipeline.accept import accept
from intake.review.users import add_user
from intake.web import build_app
from store.migrate import upgrade
from tests.conftest import make_settings
from tests.helpers import drain, make_email

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


@pytest.fixture
async def web_ctx(tmp_path, sqlite_url):
    """A context on SQLite: most web tests need one database, not both."""
    context = build_context(make_settings(tmp_path, sqlite_url))
    await upgrade(context.db)
    yield context
    await context.close()


@pytest.fixture
async def people(web_ctx):
    """One user of each role, all with PASSWORD."""
    for name, role in (("ada", "admin"), ("cora", "coordinator"), ("cleo", "coordinator"),
                       ("vic", "viewer")):
        await add_user(web_ctx, name, role, PASSWORD, "test")
    return web_ctx


class Browserless:
    """An aiohttp test client that signs in like a browser: GET the form, POST it with the
    CSRF token from the page; then `form()` posts any form the same way."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    def __getattr__(self, name: str):  # noqa: ANN204 - get/post/... of the real client
        return getattr(self.client, name)

    async def signin(self, name: str, password: str = PASSWORD):  # noqa: ANN201
        page = await self.client.get("/signin")
        self.token = CSRF.search(await page.text()).group(1)
        response = await self.client.post("/signin", data={
            "_csrf": self.token, "name": name, "password": password, "next": "/"},
            allow_redirects=False)
        if response.status == 303:
            await self.refresh_token()
        return response

    async def refresh_token(self) -> None:
        page = await self.client.get("/")
        found = CSRF.search(await page.text())
        self.token = found.group(1) if found else ""

    async def form(self, path: str, **fields):  # noqa: ANN003, ANN201
        data = {"_csrf": self.token, **fields}
        return await self.client.post(path, data=data, allow_redirects=False)


@pytest.fixture
async def make_client():
    """make_client(ctx) → a started Browserless client on our app; all closed at the end."""
    clients = []

    async def make(ctx, **settings_overrides):  # noqa: ANN001, ANN003, ANN202
        client = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        clients.append(client)
        return Browserless(client)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(people, make_client):
    return await make_client(people)


async def deliver(ctx, subject: str = "Our video", sender: str = "someone@example.org",  # noqa: ANN001
                  body: str = "Please find our video attached.",
                  attachments: list[tuple[str, bytes, str]] = ()) -> int:
    """Accept a real email through the front door (as the SMTP channel does); its item id."""
    raw = make_email(subject=subject, sender=sender, body=body, attachments=attachments)
    accepted = await accept(ctx, RawItem("smtp", raw, EMAIL, source={"mail_from": sender}))
    return accepted.item_id


process = drain  # the web tests' name for it


async def import_csv(ctx, tmp_path: Path, rows: list[tuple[str, str, str]]) -> None:  # noqa: ANN001
    """Briefs through the real survey import: (response id, title, email) rows."""
    from intake.review.survey import import_briefs

    path = tmp_path / "survey.csv"
    lines = ["Response ID,Title,Email"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    await import_briefs(ctx, path, actor="test")


def step_two(page: str) -> dict[str, str]:
    """The import page's second step as a browser would submit it unchanged: the hidden
    fields and each select's selected option ("" when none is)."""
    fields = {name: html.unescape(value) for name, value in re.findall(
        r'<input type="hidden" name="(upload|mapping)" value="([^"]*)"', page)}
    for name, options in re.findall(r'<select name="(\w+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="(\d*)" selected', options)
        fields[name] = selected.group(1) if selected else ""
    return fields


async def brief_ref(ctx, response_id: str) -> str:  # noqa: ANN001
    from intake.review.views import briefs_view

    return next(b["ref"] for b in await briefs_view(ctx) if b["response_id"] == response_id)


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory) -> bytes:
    """A real one-second H.264 MP4 (ffmpeg), else a minimal valid MP4 built from bytes."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        out = tmp_path_factory.mktemp("video") / "tiny.mp4"
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
                       check=True, timeout=120)
        return out.read_bytes()
    return minimal_mp4()


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def minimal_mp4() -> bytes:
    """ftyp + moov(mvhd) + mdat: a structurally valid MP4 that sniffs as video/mp4 (it has no
    playable track, so browser tests check the Range request instead of the duration)."""
    ftyp = _box(b"ftyp", b"isom" + (512).to_bytes(4, "big") + b"isomiso2mp41")
    mvhd = _box(b"mvhd", bytes(4) + bytes(8) + (1000).to_bytes(4, "big") + (1000).to_bytes(4, "big")
                + (0x00010000).to_bytes(4, "big") + (0x0100).to_bytes(2, "big") + bytes(10)
                + b"".join(v.to_bytes(4, "big") for v in (0x10000, 0, 0, 0, 0x10000, 0, 0, 0,
                                                          0x40000000))
                + bytes(24) + (2).to_bytes(4, "big"))
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", bytes(64))
