"""The import page's two steps through the real app: upload, see the columns with title,
response id and email picked, change a pick, import; the picks are remembered."""

import html
from pathlib import Path

from aiohttp import FormData
from sqlalchemy import select

from intake.review.views import briefs_view
from store.models import Preference
from tests.test_survey_exports import SURVEYS
from tests.web.conftest import step_two
from tests.web.test_security import client_ctx


async def _upload(client, name: str, data: bytes):  # noqa: ANN001, ANN202
    form = FormData(quote_fields=False)
    form.add_field("file", data, filename=name, content_type="text/csv")
    return await client.post(f"/import?_csrf={client.token}", data=form)


async def test_a_qualtrics_upload_shows_its_columns_picked_as_recognised(client):
    ctx = client_ctx(client)
    await client.signin("cora")
    staged = await _upload(client, "qualtrics_de.csv", (SURVEYS / "qualtrics_de.csv").read_bytes())
    page = await staged.text()
    assert staged.status == 200, page
    assert "Columns of qualtrics_de.csv" in page
    assert "A Qualtrics export with 2 response(s)." in page
    assert "question texts, Qualtrics import ids." in page
    fields = step_two(page)
    # T (Q3, "Wie lautet der Titel…"), I (ResponseId), S (Q2, "Ihre E-Mail-Adresse").
    assert (fields["title"], fields["response_id"], fields["email"]) == ("19", "8", "18")
    assert "T · Q3 (Wie lautet der Titel Ihrer Praxis?)" in page
    assert await briefs_view(ctx) == []  # step 1 writes nothing
    done = await client.form("/import/confirm", **fields)
    assert "2 rows: 2 new, 0 updated, 0 unchanged" in await done.text()
    titles = sorted(b["title"] for b in await briefs_view(ctx))
    assert titles == ["Gesundheitslotsen für Geflüchtete", "Hitzeschutzplan für Pflegeheime"]
    assert not list(Path(ctx.settings.spool_dir).glob("upload-*"))


async def test_picked_columns_are_remembered_for_the_next_file(client):
    ctx = client_ctx(client)
    await client.signin("cora")
    first = b"Ref;Practice;Contact person\nr1;Night clinics;a@example.org\n"
    fields = step_two(await (await _upload(client, "one.csv", first)).text())
    assert (fields["title"], fields["response_id"]) == ("", "")  # nothing recognised
    fields.update(response_id="0", title="1", email="2")
    done = await client.form("/import/confirm", **fields)
    assert "1 rows: 1 new" in await done.text()
    async with ctx.db.reader()() as session:
        saved = await session.scalar(select(Preference))
    assert saved.value == {"title": "Practice", "response_id": "Ref", "email": "Contact person"}
    assert saved.updated_by == "cora"
    # The next export has its columns in another order: picked by name, not by place.
    second = b"Contact person;Ref;Practice\nb@example.org;r2;Day clinics\n"
    again = step_two(await (await _upload(client, "two.csv", second)).text())
    assert (again["title"], again["response_id"], again["email"]) == ("2", "1", "0")


async def test_a_pending_upload_is_its_uploaders_and_cancel_drops_it(client, make_client):
    ctx = client_ctx(client)
    await client.signin("cora")
    fields = step_two(await (await _upload(client, "s.csv", b"id,title\n1,Clinics\n")).text())
    other = await make_client(ctx)
    await other.signin("cleo")
    stolen = await other.form("/import/confirm", **fields)
    assert stolen.status == 400 and "no longer here" in await stolen.text()
    assert await briefs_view(ctx) == []
    cancelled = await client.form("/import/confirm", cancel="1", **fields)
    assert cancelled.status == 303 and not list(Path(ctx.settings.spool_dir).glob("upload-*"))
    gone = await client.form("/import/confirm", **fields)
    assert gone.status == 400 and "no longer here" in await gone.text()


async def test_a_bad_pick_shows_the_columns_again_with_the_error(client):
    ctx = client_ctx(client)
    await client.signin("cora")
    fields = step_two(await (await _upload(client, "s.csv",
                                           b"id,title,mail\n1,Clinics,x\n")).text())
    response = await client.form("/import/confirm", **fields)
    page = html.unescape(await response.text())
    assert response.status == 400 and "line 2: not an email address: 'x'" in page
    assert step_two(page)["email"] == "2"  # picked again: change it and import
    done = await client.form("/import/confirm", **{**fields, "email": ""})
    assert "1 rows: 1 new" in await done.text()
    assert [b["email"] for b in await briefs_view(ctx)] == [None]
