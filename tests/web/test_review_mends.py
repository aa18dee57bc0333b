"""Issue 12, review app: what new coordinators stumbled on, each proven through the real app."""

import re

from intake.review.views import brief_view
from parsers.refcode import ALPHABET, check_symbol
from tests.web.conftest import brief_ref, deliver, import_csv, process
from tests.web.test_review import TEAM, _status, _two_guesses
from tests.web.test_security import client_ctx


def _slipped(ref: str) -> str:
    """The code with a wrong check symbol."""
    check = ref[-1]
    return ref[:-1] + next(s for s in ALPHABET if s != check)


def _checked(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'name="id" value="(\d+)" checked', html)}


async def test_bulk_assign_to_an_unknown_code_says_so_and_keeps_the_ticks(client, tmp_path):
    ctx = client_ctx(client)
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", TEAM)])
    ref = await brief_ref(ctx, "r1")
    ids = [await deliver(ctx, subject=f"clip {n}", sender=f"x{n}@example.net") for n in range(3)]
    await process(ctx)
    await client.signin("cora")
    picked = [("id", str(ids[0])), ("id", str(ids[2]))]
    unknown = f"HLH-AAAAA-{check_symbol('AAAAA')}"  # a good code no brief has
    response = await client.client.post("/queue/assign?video=no", data=[
        ("_csrf", client.token), *picked, ("ref", unknown)], allow_redirects=False)
    html = await response.text()
    assert response.status == 404
    assert f"no brief {unknown}" in html and "Someone got there first" not in html
    assert _checked(html) == {ids[0], ids[2]}
    assert f'value="{unknown}"' in html  # the code typed, kept to be mended
    assert 'action="/queue/assign?video=no"' in html  # the filters stay too
    response = await client.client.post("/queue/assign", data=[
        ("_csrf", client.token), *picked, ("ref", _slipped(ref))], allow_redirects=False)
    html = await response.text()
    assert response.status == 400 and "check symbol" in html and f"did you mean {ref}" in html
    assert _checked(html) == {ids[0], ids[2]}
    assert [(await _status(ctx, i))[0] for i in ids] == ["unmatched"] * 3


async def test_the_code_box_reads_codes_as_leniently_as_matching(client, tmp_path):
    ctx = client_ctx(client)
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", TEAM)])
    ref = await brief_ref(ctx, "r1")
    prefix, body, check = ref.split("-")
    ids = [await deliver(ctx, subject=f"clip {n}", sender=f"x{n}@example.net") for n in range(2)]
    await process(ctx)
    await client.signin("cora")
    for item_id, typed in zip(ids, (f"{prefix.lower()} {body.lower()} {check.lower()}",
                                    f"{prefix}{body}{check}"), strict=True):
        response = await client.form(f"/items/{item_id}/assign", ref=typed)
        assert response.status == 303, typed
        assert (await _status(ctx, item_id))[0] == "matched"
    other = await deliver(ctx, subject="another", sender="y@example.net")
    await process(ctx)
    response = await client.form(f"/items/{other}/assign", ref=_slipped(ref).lower())
    assert response.status == 400 and f"did you mean {ref}" in await response.text()
    events = (await brief_view(ctx, ref))["items"]
    assert sorted(i["id"] for i in events) == ids


async def test_reject_needs_a_reason_chosen(client):
    ctx = client_ctx(client)
    item_id = await deliver(ctx)
    await process(ctx)
    await client.signin("cora")
    html = await (await client.get(f"/items/{item_id}")).text()
    select = re.search(r'<select name="reason" required>(.*?)</select>', html, re.S).group(1)
    assert re.search(r'<option value="" selected disabled>', select)
    assert select.count(" selected") == 1  # nothing but the empty choice is pre-set
    response = await client.form(f"/items/{item_id}/reject", reason="")
    assert response.status == 400 and "needs a reason" in await response.text()
    assert (await _status(ctx, item_id))[0] == "unmatched"


async def test_the_flag_filter_is_a_select_of_labelled_flags(client):
    ctx = client_ctx(client)
    item_id = await deliver(ctx)
    await process(ctx)
    await client.signin("cora")
    html = await (await client.get("/queue?flag=no_candidates")).text()
    flags = re.search(r'<select name="flag">(.*?)</select>', html, re.S).group(1)
    assert '<option value="code_typo">code with a slip</option>' in flags
    assert '<option value="no_candidates" selected>no brief found</option>' in flags
    assert f'href="/items/{item_id}"' in html


async def test_a_bad_date_filter_names_the_field_and_the_value(client):
    await client.signin("cora")
    response = await client.get("/queue?since=garbage")
    assert response.status == 400
    assert "From (since) must be a date like 2024-05-31, not “garbage”." in await response.text()
    api = await client.get("/api/items?until=31/12/2024")
    assert (await api.json())["error"].startswith("To (until) must be a date")


async def test_the_lockout_says_fifteen_minutes_for_a_fifteen_minute_window(client):
    for _ in range(5):
        await client.signin("cora", "wrong password!")
    blocked = await client.signin("cora")
    assert blocked.status == 429
    assert "try again in 15 minutes" in await blocked.text()
    assert int(blocked.headers["Retry-After"]) <= 900


async def test_a_favicon_and_icons_that_need_no_emoji_font(client, tmp_path):
    ctx = client_ctx(client)
    item_id = await deliver(ctx, body="Our video: https://youtu.be/dQw4w9WgXcQ")
    await process(ctx)
    page = await client.get("/signin")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in await page.text()
    icon = await client.get("/static/favicon.svg")
    assert icon.status == 200 and (await icon.text()).startswith("<svg")
    await client.signin("cora")
    html = await (await client.get("/queue")).text()
    assert f'href="/items/{item_id}"' in html
    assert 'class="badge kind-link"' in html and "🔗" not in html and "📎" not in html
    assert '<svg class="icon"' in html


async def test_two_briefs_of_one_sender_say_so_in_the_why_text(client, tmp_path):
    ctx = client_ctx(client)
    item_id = await _two_guesses(ctx, tmp_path)
    await client.signin("cora")
    html = await (await client.get(f"/items/{item_id}")).text()
    assert "this sender has 2 briefs" in html
    assert "was not sure enough" not in html


async def test_brief_search_reads_codes_and_words_as_matching_does(database_url, tmp_path,
                                                                    make_client):
    from intake.context import build_context
    from intake.review.users import add_user
    from store.migrate import upgrade
    from tests.conftest import make_settings
    from tests.web.conftest import PASSWORD

    ctx = build_context(make_settings(tmp_path, database_url))
    try:
        await upgrade(ctx.db)
        await add_user(ctx, "cora", "coordinator", PASSWORD, "test")
        await import_csv(ctx, tmp_path, [
            ("r1", "Campaña de Vacunación en escuelas", "salud@example.org"),
            ("r2", "Screening for diabetes in rural clinics", "clinic@example.org"),
            ("r3", "Rainwater tanks", "rain@example.org")])
        refs = [await brief_ref(ctx, r) for r in ("r1", "r2", "r3")]
        client = await make_client(ctx)
        await client.signin("cora")
        item_id = await deliver(ctx)
        await process(ctx)
        prefix, body, check = refs[2].split("-")
        for q, expected in (("vacunacion", refs[0]), ("VACUNACIÓN", refs[0]),
                            ("vacun escuel", refs[0]), ("diabet", refs[1]),
                            (f"{prefix.lower()} {body.lower()} {check.lower()}", refs[2]),
                            (f"{prefix}{body}{check}", refs[2]), (_slipped(refs[2]), refs[2]),
                            ("abetes", None), ("vacunacion rainwater", None)):
            page = await (await client.get(f"/items/{item_id}", params={"q": q})).text()
            found = re.findall(r'href="/briefs/([A-Z0-9-]+)" class="ref"', page)
            assert found == ([expected] if expected else []), q
        api = await (await client.get("/api/briefs", params={"q": "diabet"})).json()
        assert [b["ref"] for b in api["briefs"]] == [refs[1]]
    finally:
        await ctx.close()


async def test_briefs_from_before_the_search_column_are_filled_at_start(people, tmp_path,
                                                                         make_client):
    from sqlalchemy import update

    from store.models import Brief

    ctx = people
    await import_csv(ctx, tmp_path, [("r1", "Vacunación", "a@example.org")])
    async with ctx.db.writer()() as session, session.begin():
        await session.execute(update(Brief).values(search_text=None))  # as after 0006
    client = await make_client(ctx)
    await client.signin("cora")
    api = await (await client.get("/api/briefs", params={"q": "vacunacion"})).json()
    assert [b["ref"] for b in api["briefs"]] == [await brief_ref(ctx, "r1")]


async def test_the_api_bulk_assign_refuses_an_unknown_code_before_any_item(client, tmp_path):
    ctx = client_ctx(client)
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", TEAM)])
    ref = await brief_ref(ctx, "r1")
    item_id = await deliver(ctx, sender="z@example.net")
    await process(ctx)
    from intake.review.users import new_token

    auth = {"Authorization": f"Bearer {await new_token(ctx, 'cora', 'test')}"}
    for code, status in ((f"HLH-AAAAA-{check_symbol('AAAAA')}", 404), (_slipped(ref), 400)):
        response = await client.client.post("/api/assign", json={"ids": [item_id], "ref": code},
                                            headers=auth)
        assert response.status == status, code
        assert (await response.json())["error"]
    assert (await _status(ctx, item_id))[0] == "unmatched"
