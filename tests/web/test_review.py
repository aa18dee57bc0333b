"""Working the queue through the pages: guesses, assign, undo, claims, bulk, reject, create,
search, failed items, survey upload, dashboard, audit and users."""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.context import build_context
from intake.review.users import add_user
from store.migrate import upgrade
from store.models import Event, Item
from tests.conftest import make_settings
from tests.web.conftest import PASSWORD, brief_ref, deliver, import_csv, process, step_two
from tests.web.test_security import client_ctx

TEAM = "team@example.org"


async def _two_guesses(ctx, tmp_path):
    """Two briefs share one sender address: an item from it waits with both as candidates."""
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", TEAM),
                                     ("r2", "Solar lamps for night classes", TEAM)])
    item_id = await deliver(ctx, subject="our clip", sender=TEAM)
    await process(ctx)
    return item_id


async def _status(ctx, item_id):
    async with ctx.db.reader()() as session:
        item = await session.get(Item, item_id)
        return item.status, item.brief_id


@pytest.fixture
async def both_client(database_url, tmp_path, make_client):
    """A signed-in coordinator on SQLite and on PostgreSQL."""
    ctx = build_context(make_settings(tmp_path, database_url))
    await upgrade(ctx.db)
    await add_user(ctx, "cora", "coordinator", PASSWORD, "test")
    client = await make_client(ctx)
    await client.signin("cora")
    yield client
    await ctx.close()


async def test_accept_a_guess_find_it_on_the_brief_then_undo(both_client, tmp_path):
    client = both_client
    ctx = client_ctx(client)
    item_id = await _two_guesses(ctx, tmp_path)
    assert (await _status(ctx, item_id))[0] == "unmatched"
    page = await (await client.get(f"/items/{item_id}")).text()
    assert page.count("Accept this guess") == 2
    first, second = await brief_ref(ctx, "r1"), await brief_ref(ctx, "r2")
    assert first in page and second in page
    response = await client.form(f"/items/{item_id}/assign", ref=second)
    assert response.status == 303
    assert response.headers["Location"] == f"/items/{item_id}?done=assign"
    after = await (await client.get(response.headers["Location"])).text()
    assert f"Assigned to {second}." in after
    brief_page = await (await client.get(f"/briefs/{second}")).text()
    assert f'href="/items/{item_id}"' in brief_page
    async with ctx.db.reader()() as session:
        event = await session.scalar(select(Event).where(Event.action == "assign"))
    assert event.actor == "cora" and event.item_id == item_id
    undo = await client.form(f"/items/{item_id}/undo")
    assert undo.status == 303
    assert await _status(ctx, item_id) == ("unmatched", None)


async def test_the_queue_filters_and_pages_by_keyset(client, tmp_path, tiny_mp4):
    ctx = client_ctx(client)
    with_video = await deliver(ctx, subject="with video",
                               attachments=[("v.mp4", tiny_mp4, "video/mp4")])
    plain = [await deliver(ctx, subject=f"plain {n}") for n in range(3)]
    await process(ctx)
    await client.signin("vic")
    html = await (await client.get("/queue?video=yes")).text()
    assert f'href="/items/{with_video}"' in html and f'href="/items/{plain[0]}"' not in html
    html = await (await client.get("/queue?video=no")).text()
    assert f'href="/items/{with_video}"' not in html and f'href="/items/{plain[0]}"' in html
    html = await (await client.get("/queue?channel=telegram")).text()
    assert "Nothing is waiting" in html
    html = await (await client.get("/queue?flag=no_candidates")).text()
    assert f'href="/items/{plain[2]}"' in html
    assert "Nothing is waiting" in await (await client.get("/queue?flag=no_cand")).text()
    assert "Nothing is waiting" in await (await client.get("/queue?since=2999-01-01")).text()
    assert (await client.get("/queue?since=yesterday")).status == 400
    seen, after = [], 0
    while True:  # the API's keyset pages, two at a time, oldest first
        page = await (await client.get(f"/api/items?limit=2&after={after}")).json()
        seen += [i["id"] for i in page["items"]]
        assert page["total"] == (4 if after == 0 else None)
        if not page["next_after"]:
            break
        after = page["next_after"]
    assert seen == [with_video, *plain]


async def test_a_claimed_item_cannot_be_settled_by_another(people, make_client, tmp_path):
    ctx = people
    item_id = await _two_guesses(ctx, tmp_path)
    cora, cleo = await make_client(ctx), await make_client(ctx)
    await cora.signin("cora")
    await cleo.signin("cleo")
    assert "Reserved for you" in await (await cora.get(f"/items/{item_id}")).text()
    page = await (await cleo.get(f"/items/{item_id}")).text()
    assert "cora is reviewing this item" in page
    refused = await cleo.form(f"/items/{item_id}/reject", reason="spam")
    assert refused.status == 409 and "being reviewed by cora" in await refused.text()
    assert (await _status(ctx, item_id))[0] == "unmatched"
    assert (await cora.form(f"/items/{item_id}/release")).status == 303
    assert (await cleo.form(f"/items/{item_id}/reject", reason="spam")).status == 303
    assert (await _status(ctx, item_id))[0] == "rejected"


async def test_next_skips_items_others_are_reviewing(people, make_client):
    ctx = people
    first, second = await deliver(ctx, subject="one"), await deliver(ctx, subject="two")
    await process(ctx)
    cora, cleo = await make_client(ctx), await make_client(ctx)
    await cora.signin("cora")
    await cleo.signin("cleo")
    await cora.get(f"/items/{first}")
    response = await cleo.get("/queue/next", allow_redirects=False)
    assert response.headers["Location"] == f"/items/{second}"


async def test_bulk_assign_skips_what_it_cannot_settle(people, make_client, tmp_path):
    ctx = people
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", TEAM)])
    ref = await brief_ref(ctx, "r1")
    ids = [await deliver(ctx, subject=f"clip {n}", sender=f"x{n}@example.net") for n in range(3)]
    await process(ctx)
    cleo, cora = await make_client(ctx), await make_client(ctx)
    await cleo.signin("cleo")
    await cleo.get(f"/items/{ids[2]}")  # cleo is reviewing the third
    await cora.signin("cora")
    response = await cora.client.post("/queue/assign", data=[
        ("_csrf", cora.token), ("id", str(ids[0])), ("id", str(ids[1])), ("id", str(ids[2])),
        ("ref", ref.lower())], allow_redirects=False)
    assert response.status == 303
    flash = await (await cora.get(response.headers["Location"])).text()
    assert f"Assigned 2 item(s) to {ref}; 1 skipped." in flash
    assert [(await _status(ctx, i))[0] for i in ids] == ["matched", "matched", "unmatched"]


async def test_reject_with_a_reason_and_create_a_brief(client):
    ctx = client_ctx(client)
    spam, practice = await deliver(ctx, subject="buy now"), await deliver(ctx, subject="Seeds")
    await process(ctx)
    await client.signin("cora")
    assert (await client.form(f"/items/{spam}/reject", reason="spam")).status == 303
    assert (await _status(ctx, spam))[0] == "rejected"
    response = await client.form(f"/items/{practice}/create-brief", title="Seed banks")
    page = await (await client.get(response.headers["Location"])).text()
    ref = re.search(r"Created brief ([A-Z0-9-]+) from this item", page).group(1)
    brief = await (await client.get(f"/briefs/{ref}")).text()
    assert "Seed banks" in brief and f'href="/items/{practice}"' in brief


async def test_assigning_to_an_unknown_brief_says_so_on_the_item_page(client):
    ctx = client_ctx(client)
    item_id = await deliver(ctx)
    await process(ctx)
    await client.signin("cora")
    # (HLH-NOPE0-X reads as HLH-N0PE0-X, whose check fails: test_review_mends covers that)
    response = await client.form(f"/items/{item_id}/assign", ref="HLH-NOPE")
    assert response.status == 404 and "no brief HLH-NOPE" in await response.text()


async def test_brief_search_by_code_title_and_email(client, tmp_path):
    ctx = client_ctx(client)
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", "rain@example.org"),
                                     ("r2", "Solar lamps", "sun@example.org")])
    item_id = await deliver(ctx)
    await process(ctx)
    ref = await brief_ref(ctx, "r2")
    await client.signin("cora")
    for q, expected in ((ref.lower(), ref), ("RAINWATER", await brief_ref(ctx, "r1")),
                        ("sun@example.org", ref), ("100%_", None)):
        page = await (await client.get(f"/items/{item_id}", params={"q": q})).text()
        found = re.findall(r'href="/briefs/([A-Z0-9-]+)" class="ref"', page)
        assert found == ([expected] if expected else []), q
    api = await (await client.get("/api/briefs", params={"q": "lamps"})).json()
    assert [b["ref"] for b in api["briefs"]] == [ref]


async def test_a_failed_item_is_listed_and_sent_back_to_the_workers(client):
    from channels.contract import RawItem
    from intake.pipeline.accept import accept

    ctx = client_ctx(client)
    accepted = await accept(ctx, RawItem("telegram", b"{}", "application/x-unknown", "u1"))
    await process(ctx)
    await client.signin("cora")
    page = await (await client.get("/failed")).text()
    assert f'href="/items/{accepted.item_id}"' in page and "no analyser" in page
    response = await client.form(f"/items/{accepted.item_id}/reprocess")
    assert response.headers["Location"] == f"/failed?reprocessing={accepted.item_id}"
    async with ctx.db.reader()() as session:
        queued = await session.get(Item, accepted.item_id)
        event = await session.scalar(select(Event).where(Event.action == "reprocess"))
    # The web app does not process: the item is back in the queue, the event names cora.
    assert queued.status == "received" and queued.attempts == 0  # a fresh set of tries
    assert (event.actor, event.item_id, event.detail) == ("cora", queued.id,
                                                          {"before": "failed"})
    missing = await client.form("/items/999999/reprocess")
    await process(ctx)
    async with ctx.db.reader()() as session:
        item = await session.get(Item, accepted.item_id)
        failures = list(await session.scalars(select(Event.id).where(
            Event.action == "failed", Event.item_id == item.id)))
    assert item.status == "failed" and item.attempts == 1 and len(failures) == 2
    assert missing.status == 404


def _csv(rows):
    return ("Response ID,Title,Email\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows)).encode()


async def test_survey_upload_imports_and_rematches_like_the_cli(client):
    from aiohttp import FormData

    ctx = client_ctx(client)
    waiting = await deliver(ctx, subject="our film", sender="late@example.org")
    await process(ctx)
    assert (await _status(ctx, waiting))[0] == "unmatched"
    await client.signin("cora")
    form = FormData(quote_fields=False)  # as browsers send names: raw, not %-encoded
    form.add_field("file", _csv([("r9", "Late brief", "late@example.org")]),
                   filename="survey export.csv", content_type="text/csv")
    staged = await client.post(f"/import?_csrf={client.token}", data=form)
    assert staged.status == 200, await staged.text()
    response = await client.form("/import/confirm", **step_two(await staged.text()))
    text = await response.text()
    assert response.status == 200, text
    assert "Imported survey export.csv" in text
    assert "1 rows: 1 new, 0 updated, 0 unchanged; 1 unmatched item(s) now matched." in text
    assert (await _status(ctx, waiting))[0] == "matched"
    async with ctx.db.reader()() as session:
        event = await session.scalar(select(Event).where(Event.action == "import"))
    assert event.actor == "cora" and event.detail["file"] == "survey export.csv"
    assert not list(Path(ctx.settings.spool_dir).glob("upload-*"))


async def test_a_bad_survey_file_imports_nothing_and_says_why(client):
    from aiohttp import FormData

    await client.signin("cora")
    form = FormData()
    form.add_field("file", b"Title,Email\nx,y@example.org\n", filename="s.csv")
    staged = await client.post(f"/import?_csrf={client.token}", data=form)
    fields = step_two(await staged.text())
    assert fields["response_id"] == ""  # nothing recognised: nothing picked
    response = await client.form("/import/confirm", **fields)
    assert response.status == 400 and "missing column" in await response.text()


async def test_an_upload_over_the_cap_is_refused_while_streaming(tmp_path, sqlite_url,
                                                                 make_client):
    from aiohttp import FormData

    ctx = build_context(make_settings(tmp_path, sqlite_url, web_upload_max_bytes=4096))
    await upgrade(ctx.db)
    try:
        await add_user(ctx, "cora", "coordinator", PASSWORD, "test")
        client = await make_client(ctx)
        await client.signin("cora")

        async def chunks():  # no Content-Length: only counting while streaming can stop it
            for _ in range(64):
                yield b"x" * 1024
        form = FormData()
        form.add_field("file", chunks(), filename="big.csv")
        response = await client.post(f"/import?_csrf={client.token}", data=form)
        assert response.status == 413
        assert not list(Path(ctx.settings.spool_dir).glob("upload-*/*"))
    finally:
        await ctx.close()


async def test_the_dashboard_counts_and_ages(client, tmp_path):
    ctx = client_ctx(client)
    await _two_guesses(ctx, tmp_path)
    await deliver(ctx, subject="another")
    await process(ctx)
    await client.signin("vic")
    data = await (await client.get("/api/dashboard")).json()
    assert data["all_time"]["by_status"] == {"unmatched": 2}
    assert data["today"]["by_channel"] == {"smtp": {"unmatched": 2}}
    assert data["oldest_unmatched"]["age_seconds"] >= 0
    html = await (await client.get("/")).text()
    assert "waiting for review" in html and "oldest waiting" in html


async def test_the_audit_log_names_the_coordinator(client, tmp_path):
    ctx = client_ctx(client)
    item_id = await _two_guesses(ctx, tmp_path)
    await client.signin("cora")
    await client.form(f"/items/{item_id}/reject", reason="not_a_practice")
    page = await (await client.get("/audit", params={"actor": "cora"})).text()
    assert "rejected" in page and f'href="/items/{item_id}"' in page
    api = await (await client.get("/api/events", params={"action": "reject"})).json()
    assert [(e["actor"], e["item_id"]) for e in api["events"]] == [("cora", item_id)]


async def test_admins_manage_users(client):
    await client.signin("ada")
    assert (await client.form("/users", name="newbie", role="viewer",
                              password="long enough pw")).status == 303
    assert (await client.form("/users/newbie", op="role", role="coordinator")).status == 303
    page = await (await client.form("/users/newbie", op="token")).text()
    token = re.search(r'<code class="token">([^<]+)</code>', page).group(1)
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert await me.json() == {"name": "newbie", "role": "coordinator"}
    short = await client.form("/users", name="x", role="viewer", password="short")
    assert short.status == 400 and "at least 10" in await short.text()
    last = await client.form("/users/ada", op="disable")
    assert last.status == 400 and "last admin" in await last.text()
    assert (await client.form("/users/newbie", op="disable")).status == 303
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401


async def test_the_api_settles_items_with_a_token(both_client, tmp_path):
    from intake.review.users import new_token

    ctx = client_ctx(both_client)
    item_id = await _two_guesses(ctx, tmp_path)
    auth = {"Authorization": f"Bearer {await new_token(ctx, 'cora', 'test')}"}
    ref = await brief_ref(ctx, "r1")
    api = both_client.client
    for query, expected in (("flag=low_confidence&video=no", [item_id]),
                            ("flag=low_conf", []), ("video=yes", []),
                            ("since=2000-01-01&until=2999-12-31&channel=smtp", [item_id])):
        page = await (await api.get(f"/api/items?{query}", headers=auth)).json()
        assert [i["id"] for i in page["items"]] == expected, query  # JSON filters, both DBs
    item = await (await api.get(f"/api/items/{item_id}", headers=auth)).json()
    assert {c["brief_ref"] for c in item["candidates"]} >= {ref}
    done = await api.post(f"/api/items/{item_id}/assign", json={"ref": ref}, headers=auth)
    assert (await done.json())["status"] == "matched"
    undone = await api.post(f"/api/items/{item_id}/undo", headers=auth)
    assert (await undone.json())["status"] == "unmatched"
    bad = await api.post(f"/api/items/{item_id}/reject", json={}, headers=auth)
    assert bad.status == 400 and "needs a reason" in (await bad.json())["error"]
    bulk = await api.post("/api/assign", json={"ids": [item_id, 999999], "ref": ref},
                          headers=auth)
    result = await bulk.json()
    assert result["assigned"] == [item_id] and result["skipped"][0]["id"] == 999999
    brief = await (await api.get(f"/api/briefs/{ref}", headers=auth)).json()
    assert [i["id"] for i in brief["items"]] == [item_id]


def test_every_text_key_in_the_templates_exists():
    from intake.web.render import TEMPLATE_DIR
    from intake.web.text import TEXT

    used = set()
    for template in TEMPLATE_DIR.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.0-9]+)'\s*[,)]", template.read_text()))
    for module in Path(TEMPLATE_DIR).parent.glob("*.py"):
        used |= set(re.findall(r'\bt\("([a-z_.0-9]+)"\s*[,)]', module.read_text()))
    assert used and not sorted(k for k in used if k not in TEXT)


async def test_a_filtered_count_stops_at_the_cap(client, monkeypatch):
    ctx = client_ctx(client)
    for n in range(3):
        await deliver(ctx, subject=f"plain {n}")
    await process(ctx)
    monkeypatch.setattr("intake.review.views.COUNT_CAP", 2)
    await client.signin("vic")
    capped = await (await client.get("/api/items?video=no")).json()
    assert (capped["total"], capped["total_capped"]) == (2, True)
    exact = await (await client.get("/api/items")).json()  # a whole status is counted exactly
    assert (exact["total"], exact["total_capped"]) == (3, False)
    assert '<span class="count">2+</span>' in await (await client.get("/queue?video=no")).text()
