"""The IMAP poller against a real Dovecot: IDLE, reconnects, UIDVALIDITY, size, bad mail."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os

import pytest

from channels.contract import TryLater
from intake.pipeline.accept import accept
from tests.conftest import CORPUS
from tests.helpers import drain
from tests.imap.conftest import Harness, all_items, count_items, mail, wait_for

ACCEPTED = {b"\\Seen", b"$IntakeAccepted"}


def flags_of(dovecot, folder: str = "INBOX") -> dict[int, set[bytes]]:  # noqa: ANN001
    client = dovecot.client()
    try:
        client.select_folder(folder, readonly=True)
        return {uid: set(flags) for uid, flags in client.get_flags(client.search("ALL")).items()}
    finally:
        client.logout()


async def test_mail_appended_while_idling_is_taken_without_waiting_for_a_poll(
        dovecot, tmp_path, database_url):
    harness = Harness(tmp_path, database_url)
    try:
        ctx = await harness.open(imap_urls=[dovecot.url()])
        dovecot.append([mail(1)])
        pollers = await harness.start()
        await wait_for(lambda: pollers[0].state == "idle", 30, "the poller to IDLE")
        assert await count_items(ctx) == 1  # the mail already there at start-up
        dovecot.append([mail(2)])
        # The next poll is 600 s away: only IDLE brings it in sooner (no tighter limit, which
        # a loaded machine could miss).
        await wait_for(lambda: _count_is(ctx, 2), 120, "the IDLE wake-up")
        items = await all_items(ctx)
        assert [i.channel for i in items] == ["imap", "imap"]
        source = items[1].source
        assert (source["uid"], source["folder"]) == (2, "INBOX")
        assert source["mailbox"] == pollers[0].spec.name
        await wait_for(lambda: _checkpoint_at(harness, 2), 10, "the checkpoint")
        assert all(flags >= ACCEPTED for flags in flags_of(dovecot).values())
    finally:
        await harness.close()


async def _count_is(ctx, n: int) -> bool:  # noqa: ANN001
    return await count_items(ctx) == n


async def _checkpoint_at(harness: Harness, uid: int) -> bool:
    return (await harness.checkpoint()).get("last_uid") == uid


async def test_polling_when_the_server_has_no_idle(dovecot_without_idle, harness):
    dovecot = dovecot_without_idle
    ctx = await harness.open(imap_urls=[dovecot.url()], imap_poll_seconds=1)
    pollers = await harness.start()
    await wait_for(lambda: pollers[0].state == "polling", 30, "the poller to poll")
    dovecot.append([mail(1), mail(2)])
    await wait_for(lambda: _count_is(ctx, 2), 30, "the next poll")


async def test_dovecot_stopped_and_restarted_the_poller_reconnects(dovecot, harness):
    ctx = await harness.open(imap_urls=[dovecot.url()])
    dovecot.append([mail(1)])
    pollers = await harness.start()
    await wait_for(lambda: pollers[0].state == "idle", 30, "the poller to IDLE")
    dovecot.stop()
    await wait_for(lambda: pollers[0].last_error != "", 30, "the poller to notice")
    dovecot.start()
    dovecot.append([mail(2), mail(3)])
    await wait_for(lambda: _count_is(ctx, 3), 60, "the poller to reconnect and read on")
    await wait_for(lambda: _checkpoint_at(harness, 3), 10, "the checkpoint")
    assert await count_items(ctx) == 3


async def test_new_uidvalidity_rereads_the_folder_without_duplicates(dovecot, harness):
    admin = dovecot.client()
    admin.create_folder("Calls")
    admin.logout()
    ctx = await harness.open(imap_urls=[dovecot.url(folder="Calls")])
    dovecot.append([mail(1), mail(2), mail(3)], folder="Calls")
    pollers = await harness.start()
    await wait_for(lambda: _checkpoint_at(harness, 3), 30, "the first three")
    before = (await harness.checkpoint())["uidvalidity"]

    admin = dovecot.client()
    admin.delete_folder("Calls")  # same name, new folder: its UIDs start again at 1
    admin.create_folder("Calls")
    new_validity = admin.folder_status("Calls", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    admin.logout()
    dovecot.append([mail(1), mail(2), mail(3), mail(4), mail(5)], folder="Calls")
    assert new_validity != before

    async def reread() -> bool:
        mark = await harness.checkpoint()
        return mark.get("uidvalidity") == new_validity and mark.get("last_uid") == 5

    await wait_for(reread, 60, "the re-read of the new folder")
    items = await all_items(ctx)
    assert sorted(i.message_id for i in items) == [f"m{n}@example.net" for n in range(1, 6)]
    assert all(flags >= ACCEPTED for flags in flags_of(dovecot, "Calls").values())
    assert pollers[0].thread.is_alive()


async def test_a_30_mb_message(dovecot, harness):
    attachment = base64.encodebytes(os.urandom(22 * 1024 * 1024)).replace(b"\n", b"\r\n")
    raw = mail(1, extra="MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n",
               body="--B\r\nContent-Type: text/plain\r\n\r\nvideo\r\n--B\r\n"
                    "Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n"
                    "Content-Disposition: attachment; filename=v.mp4\r\n\r\n"
               ) + attachment + b"--B--\r\n"
    assert len(raw) > 30_000_000
    ctx = await harness.open(imap_urls=[dovecot.url()])
    dovecot.append([mail(0), raw, mail(2)])
    await harness.start()
    await wait_for(lambda: _count_is(ctx, 3), 120, "the three messages")
    big = [i for i in await all_items(ctx) if i.message_id == "m1@example.net"][0]
    assert big.raw_size == len(raw)
    assert big.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert await ctx.blobs.get_bytes(big.raw_sha256) == raw


async def test_malformed_mail_from_the_corpus_does_not_stall_the_mailbox(dovecot, harness):
    bad = [CORPUS / "spamscope-mail-parser" / "mail_malformed_1",
           CORPUS / "flanker" / "mailformed-headers.eml", CORPUS / "flanker" / "dkim" / "email.02"]
    if not all(path.is_file() for path in bad):
        pytest.skip(f"corpus not found under {CORPUS}")
    ctx = await harness.open(imap_urls=[dovecot.url()])
    dovecot.append([mail(1), *(path.read_bytes() for path in bad), mail(2)])
    await harness.start()
    await wait_for(lambda: _count_is(ctx, 5), 30, "all five, the good one after the bad ones")
    await wait_for(lambda: _checkpoint_at(harness, 5), 10, "the checkpoint past them")
    await drain(ctx)
    statuses = {i.status for i in await all_items(ctx)}
    assert statuses <= {"matched", "unmatched", "failed"}


async def test_try_later_leaves_the_message_unmarked_and_retries(dovecot, harness):
    ctx = await harness.open(imap_urls=[dovecot.url()])
    refusals, looked = [], asyncio.Event()

    async def storage_down_twice(raw):  # noqa: ANN001, ANN202
        # Down until the test has looked (its retry after back-off must not come first on a
        # loaded machine), and for two tries at least.
        if raw.source["uid"] == 2 and (len(refusals) < 2 or not looked.is_set()):
            refusals.append(raw.source["uid"])
            raise TryLater("disk full")
        return await accept(ctx, raw)

    dovecot.append([mail(1), mail(2), mail(3)])
    pollers = await harness.start(storage_down_twice)
    await wait_for(lambda: pollers[0].last_error != "", 30, "the first refusal")
    flags = flags_of(dovecot)
    assert flags[1] >= ACCEPTED
    assert not flags[2] & ACCEPTED and not flags[3] & ACCEPTED
    assert (await harness.checkpoint())["last_uid"] == 1
    looked.set()
    await wait_for(lambda: _checkpoint_at(harness, 3), 60, "the retries")
    assert len(refusals) >= 2 and await count_items(ctx) == 3
    assert all(f >= ACCEPTED for f in flags_of(dovecot).values())


async def test_a_message_accept_keeps_failing_on_is_set_aside(dovecot, harness, caplog):
    ctx = await harness.open(imap_urls=[dovecot.url()])

    async def bug_on_uid_2(raw):  # noqa: ANN001, ANN202
        if raw.source["uid"] == 2:
            raise RuntimeError("a bug")
        return await accept(ctx, raw)

    dovecot.append([mail(1), mail(2), mail(3)])
    with caplog.at_level(logging.ERROR, logger="channels.imap"):
        await harness.start(bug_on_uid_2)
        await wait_for(lambda: _checkpoint_at(harness, 3), 30, "the mailbox to go on")
    assert (await harness.checkpoint())["set_aside"] == [2]
    assert await count_items(ctx) == 2
    flags = flags_of(dovecot)
    assert b"$IntakeFailed" in flags[2] and b"\\Seen" not in flags[2]
    assert "set aside" in caplog.text


async def test_move_to_a_folder_after_accept_and_never_delete(dovecot, harness):
    ctx = await harness.open(imap_urls=[dovecot.url()], imap_move_to="Done")
    dovecot.append([mail(1), mail(2)])
    await harness.start()  # the folder does not exist yet: the poller creates it
    await wait_for(lambda: _checkpoint_at(harness, 2), 30, "both messages")
    assert flags_of(dovecot) == {}
    moved = flags_of(dovecot, "Done")
    assert len(moved) == 2 and all(f >= ACCEPTED for f in moved.values())
    assert await count_items(ctx) == 2


async def test_wrong_password_is_a_clear_error_and_other_mailboxes_go_on(dovecot, harness, caplog):
    # The shared password is right for bot@ and wrong for other@.
    ctx = await harness.open(imap_urls=[dovecot.url(user="other@example.org"), dovecot.url()])
    dovecot.append([mail(1)])
    dovecot.append([mail(9)], user="other@example.org")
    with caplog.at_level(logging.DEBUG):  # imapclient's own debug lines too
        pollers = await harness.start()
        await wait_for(lambda: _count_is(ctx, 1), 30, "the good mailbox")
        await wait_for(lambda: pollers[0].last_error != "", 30, "the bad one to say why")
    assert "login refused" in pollers[0].last_error
    assert "other@example.org" in pollers[0].last_error
    assert "secret" not in caplog.text
    assert (await all_items(ctx))[0].message_id == "m1@example.net"
    assert pollers[0].thread.is_alive()  # it keeps trying, with back-off


async def test_tls_with_verification_and_starttls(dovecot_tls, harness, monkeypatch, caplog):
    url = f"imaps://bot@example.org@127.0.0.1:{dovecot_tls.tls_port}/INBOX"
    starttls = dovecot_tls.url(query="starttls=1")
    # Not trusted yet: a clear error, and the poller keeps waiting for a fix.
    ctx = await harness.open(imap_urls=[url])
    with caplog.at_level(logging.ERROR, logger="channels.imap"):
        pollers = await harness.start()
        await wait_for(lambda: pollers[0].last_error != "", 30, "the certificate error")
    assert "certificate not trusted" in pollers[0].last_error
    await harness.close()
    # With its CA trusted (SSL_CERT_FILE), both implicit TLS and STARTTLS work.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_tls.cert))
    dovecot_tls.append([mail(1)])
    ctx = await harness.open(imap_urls=[url, starttls])
    pollers = await harness.start()
    await wait_for(lambda: all(p.state == "idle" for p in pollers), 30, "both to IDLE")
    assert await count_items(ctx) == 1


async def test_bounded_uid_windows_and_fetch_groups_across_uid_gaps(dovecot, harness,
                                                                     monkeypatch):
    import channels.imap_folder as folder_module

    monkeypatch.setattr(folder_module, "UID_WINDOW", 3)  # many SEARCHes, some of them empty
    monkeypatch.setattr(folder_module, "FETCH_BYTES", 1)  # one body per FETCH
    dovecot.append([mail(n) for n in range(1, 13)])
    admin = dovecot.client()
    admin.select_folder("INBOX")
    admin.delete_messages([4, 5, 6, 7])  # a gap wider than a window
    admin.uid_expunge([4, 5, 6, 7])
    admin.logout()
    ctx = await harness.open(imap_urls=[dovecot.url()], imap_batch=2)
    await harness.start()
    await wait_for(lambda: _checkpoint_at(harness, 12), 30, "every window")
    assert sorted(int(i.message_id[1:].split("@")[0]) for i in await all_items(ctx)) == [
        1, 2, 3, 8, 9, 10, 11, 12]
