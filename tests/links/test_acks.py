"""The acknowledgement waits for an item's links and says what became of them."""

from intake.links.fetcher import LinkFetcher
from tests.acks.conftest import acker, actx, processor, sink  # noqa: F401 - their fixtures
from tests.acks.test_acks import deliver, outbound
from tests.helpers import make_email


async def _ack_after_fetch(actx, acker, processor, sink, url):  # noqa: F811
    raw = make_email(subject="our clip", body=f"The video is here: {url}",
                     sender="zed@example.net")
    await deliver(actx, (raw, "zed@example.net"))
    await processor.drain()
    await acker.outbox.flush()
    assert sink.received == []  # held while the link is being fetched
    assert [r.status for r in await outbound(actx)] == ["pending"]
    await LinkFetcher(actx).drain()
    await acker.outbox.flush()
    [got] = sink.received
    return got.message.get_content()


async def test_the_ack_says_we_have_the_video(actx, acker, processor, sink, providers):  # noqa: F811
    body = await _ack_after_fetch(actx, acker, processor, sink, "https://we.tl/t-AbCdEf1234")
    assert "https://we.tl/t-AbCdEf1234 – we have your video (3.0 MB)" in body


async def test_the_ack_says_the_link_needs_signin(actx, acker, processor, sink,  # noqa: F811
                                                  providers):
    url = "https://drive.google.com/file/d/PRIVATEFILE1234/view"
    body = await _ack_after_fetch(actx, acker, processor, sink, url)
    assert "the link needs sign-in: please share it with anyone who has the link" in body
