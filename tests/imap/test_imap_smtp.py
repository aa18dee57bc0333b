"""One message delivered both by SMTP and into the IMAP mailbox is one item, in either order."""

from __future__ import annotations

from tests.helpers import make_email, send_async, smtp_listener
from tests.imap.conftest import all_items, wait_for
from tests.imap.test_imap_poller import ACCEPTED, flags_of


async def test_a_message_by_smtp_and_by_imap_is_one_item(dovecot, harness):
    ctx = await harness.open(imap_urls=[dovecot.url()])
    first = make_email(subject="Video for HLH", message_id="<smtp-first@example.org>")
    second = make_email(subject="Another video", message_id="<imap-first@example.org>")
    pollers = await harness.start()
    await wait_for(lambda: pollers[0].state == "idle", 30, "the poller to IDLE")
    async with smtp_listener(ctx) as port:
        await send_async(port, first)  # SMTP, then the mailbox copy
        dovecot.append([first, second])
        await wait_for(lambda: _checkpoint_at(harness, 2), 30, "both mailbox copies")
        await send_async(port, second)  # the mailbox, then SMTP
    items = await all_items(ctx)
    assert [(i.channel, i.message_id) for i in items] == [
        ("smtp", "smtp-first@example.org"), ("imap", "imap-first@example.org")]
    # The mailbox copy that was already there is still marked as taken.
    assert all(flags >= ACCEPTED for flags in flags_of(dovecot).values())


async def _checkpoint_at(harness, uid: int) -> bool:  # noqa: ANN001
    return (await harness.checkpoint()).get("last_uid") == uid
