"""The brief page offers a private upload link to copy, and revokes it; viewers cannot."""

from __future__ import annotations

import re

from tests.upload.conftest import add_brief
from tests.web.conftest import client, make_client, people, web_ctx  # noqa: F401 - fixtures

LINK = re.compile(r'value="(/u/[^"]+)"')


async def test_make_copy_and_revoke_a_private_link(client, people):  # noqa: F811
    brief = await add_brief(people)
    await client.signin("cora")
    made = await client.form(f"/briefs/{brief.ref}/upload-links")
    assert made.status == 303
    page = await (await client.get(f"/briefs/{brief.ref}")).text()
    [link] = LINK.findall(page)
    opened = await client.get(link)
    assert opened.status == 200 and brief.ref in await opened.text()
    link_id = link.split("/u/")[1].split(".")[0]
    revoked = await client.form(f"/briefs/{brief.ref}/upload-links/{link_id}/revoke")
    assert revoked.status == 303
    assert (await client.get(link)).status == 404
    assert not LINK.findall(await (await client.get(f"/briefs/{brief.ref}")).text())


async def test_a_viewer_cannot_make_links(client, people):  # noqa: F811
    brief = await add_brief(people)
    await client.signin("vic")
    assert (await client.form(f"/briefs/{brief.ref}/upload-links")).status == 403


async def test_the_upload_pages_show_nothing_of_the_review_app(client, people):  # noqa: F811
    page = await client.get("/upload")
    text = await page.text()
    assert page.status == 200 and "/queue" not in text and "signout" not in text
    assert (await client.get("/queue", allow_redirects=False)).status == 303  # still guarded
