"""The item page shows why a link was not fetched, and a coordinator's "Fetch again" works."""

from sqlalchemy import select

from intake.links.fetcher import LinkFetcher
from store.models import LinkFetch
from tests.links.conftest import providers  # noqa: F401 - the fake providers and proxy
from tests.web.conftest import deliver, process

PRIVATE = "https://drive.google.com/file/d/PRIVATEFILE1234/view?usp=sharing"


async def test_failure_reason_shown_and_fetch_again_button(people, client, providers):  # noqa: F811
    item_id = await deliver(people, body=f"Our video: {PRIVATE}")
    await process(people)
    await LinkFetcher(people).drain()
    await client.signin("cora")
    page = await (await client.get(f"/items/{item_id}")).text()
    assert "needs sign-in" in page and "Fetch again" in page

    async with people.db.reader()() as session:
        row = await session.scalar(select(LinkFetch))
    async with people.db.writer()() as session, session.begin():  # the owner shares it now
        (await session.get(LinkFetch, row.id)).url = PRIVATE.replace("PRIVATEFILE1234",
                                                                     "SHAREDFILE12345")
    response = await client.form(f"/items/{item_id}/media/{row.media_id}/fetch")
    assert response.status == 303 and response.headers["Location"].endswith("done=fetch")
    async with people.db.reader()() as session:
        again = await session.get(LinkFetch, row.id)
    assert (again.status, again.attempts, again.reason) == ("pending", 0, None)

    await LinkFetcher(people).drain()
    page = await (await client.get(f"/items/{item_id}")).text()
    assert "fetched into the store" in page and "clip.mp4" in page
    assert "<video" in page  # the fetched file is a medium of the item, played in place


async def test_a_viewer_cannot_fetch_again(people, make_client, providers):  # noqa: F811
    item_id = await deliver(people, body=f"Our video: {PRIVATE}")
    await process(people)
    viewer = await make_client(people)
    await viewer.signin("vic")
    async with people.db.reader()() as session:
        row = await session.scalar(select(LinkFetch))
    response = await viewer.form(f"/items/{item_id}/media/{row.media_id}/fetch")
    assert response.status == 403
