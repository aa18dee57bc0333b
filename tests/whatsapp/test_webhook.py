"""/whatsapp/webhook: Meta's handshake, the signature before anything, one item per event."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from sqlalchemy import func, select

from channels.whatsapp import MAX_BODY, WHATSAPP_EVENT, split_events
from intake.pipeline.accept import accept_many, raw_bytes
from intake.web.whatsapp import GroupCommit
from store.models import Item
from tests.helpers import FailingInserts
from tests.whatsapp import payloads as wa
from tests.whatsapp.conftest import webhook_client

URL = "/whatsapp/webhook"


async def items(ctx) -> list[Item]:
    async with ctx.db.reader()() as session:
        return list((await session.scalars(select(Item).order_by(Item.id))).all())


async def count(ctx) -> int:
    async with ctx.db.reader()() as session:
        return await session.scalar(select(func.count()).select_from(Item))


async def test_the_handshake_echoes_the_challenge_to_the_right_token_only(wa_settings):
    async with webhook_client(wa_settings()) as (_, client):
        right = await client.get(URL, params={"hub.mode": "subscribe", "hub.challenge": "1158",
                                              "hub.verify_token": wa.VERIFY_TOKEN})
        wrong = await client.get(URL, params={"hub.mode": "subscribe", "hub.challenge": "1158",
                                              "hub.verify_token": "guess"})
        bare = await client.get(URL)
        put = await client.put(URL, data=b"{}")
        assert (right.status, await right.text()) == (200, "1158")
        assert (wrong.status, bare.status, put.status) == (403, 400, 405)


async def test_a_wrong_or_missing_signature_is_401_and_nothing_is_stored(wa_settings):
    body, headers = wa.signed(wa.payload(wa.value([wa.text("HLH-AAAA")])))
    forged = {**headers, "X-Hub-Signature-256": wa.signed(body, "not-the-secret")[1][
        "X-Hub-Signature-256"]}
    async with webhook_client(wa_settings()) as (ctx, client):
        statuses = [(await client.post(URL, data=body, headers=h)).status for h in (
            forged, {"Content-Type": "application/json"},
            {**headers, "X-Hub-Signature-256": "sha256="},
            {**headers, "X-Hub-Signature-256": headers["X-Hub-Signature-256"][7:]})]
        tampered = await client.post(URL, data=body.replace(b"HLH-AAAA", b"HLH-BBBB"),
                                     headers=headers)
        assert statuses == [401, 401, 401, 401] and tampered.status == 401
        assert await count(ctx) == 0


async def test_a_signed_post_is_stored_one_item_per_message_before_the_200(wa_settings):
    first, second = wa.text("Vidéo HLH-7Q2K", sender="22501"), wa.video("77", sender="22502")
    data = wa.payload(wa.value([first]), wa.value([second], statuses=[wa.status("wamid.O1")]),
                      entries=2)
    body, headers = wa.signed(data)
    async with webhook_client(wa_settings()) as (ctx, client):
        answer = await client.post(URL, data=body, headers=headers)
        stored = await items(ctx)  # the 200 came after the commit: they are there now
        again = await client.post(URL, data=body, headers=headers)  # Meta retries
        assert answer.status == 200 and again.status == 200
        assert [i.dedupe_key for i in stored] == [
            f"whatsapp:{first['id']}", f"whatsapp:{second['id']}",
            "whatsapp:status:wamid.O1:delivered"]
        assert [i.chat_id for i in stored] == ["+22501", "+22502", None]  # apart from Telegram's
        assert {i.raw_type for i in stored} == {WHATSAPP_EVENT} and await count(ctx) == 3
        kept = json.loads(await raw_bytes(ctx, stored[0].id))
        assert kept["entry"][0]["changes"][0]["value"]["messages"] == [first]


async def test_unknown_types_and_other_fields_are_stored(wa_settings):
    odd = wa.message("hologram", {"id": "1"})
    other = {"object": "whatsapp_business_account", "entry": [{"id": wa.WABA_ID, "changes": [
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]}
    async with webhook_client(wa_settings()) as (ctx, client):
        one = await client.post(URL, **dict(zip(("data", "headers"), wa.signed(
            wa.payload(wa.value([odd]))), strict=True)))
        two = await client.post(URL, **dict(zip(("data", "headers"), wa.signed(other),
                                                strict=True)))
        stored = await items(ctx)
        assert (one.status, two.status) == (200, 200)
        assert stored[0].dedupe_key == f"whatsapp:{odd['id']}"
        assert json.loads(await raw_bytes(ctx, stored[1].id))["entry"][0]["changes"][0][
            "field"] == "account_update"


@pytest.mark.parametrize("odd", ["surrogate", "nan", "big integer"])
async def test_json_beyond_orjson_is_read_exactly_and_each_cut_event_keeps_it(wa_settings, odd):
    """JSON that orjson refuses (a lone surrogate escape: half an emoji cut by a phone; NaN)
    or would change (an integer past 64 bits becomes a float) is read by the standard
    library, and a message cut from a batch is written back with the same value, so the
    worker reads from it what Meta sent."""
    broken = wa.text("Vid\ud83d HLH-7Q2K" if odd == "surrogate" else "HLH-7Q2K", sender="22501")
    data = wa.payload(wa.value([broken, wa.text("second", sender="22502")]))
    metadata = data["entry"][0]["changes"][0]["value"]["metadata"]
    metadata["odd"] = {"nan": float("nan"), "big integer": 2 ** 70}.get(odd, 1)
    body, headers = wa.signed(data)
    assert {"surrogate": b"\\ud83d", "nan": b"NaN", "big integer": b"1180591620717411303424"
            }[odd] in body  # as it would come: JSON text, not Python
    async with webhook_client(wa_settings()) as (ctx, client):
        answer = await client.post(URL, data=body, headers=headers)
        stored = await items(ctx)
        assert answer.status == 200 and len(stored) == 2
        raw = await raw_bytes(ctx, stored[0].id)
        kept = json.loads(raw)["entry"][0]["changes"][0]["value"]
        assert kept["messages"] == [broken] and stored[0].chat_id == "+22501"
        if odd == "nan":
            assert b'"odd":NaN' in raw
        else:
            assert kept["metadata"]["odd"] == metadata["odd"]
            assert type(kept["metadata"]["odd"]) is int


async def test_a_compressed_post_is_read_whole(wa_settings):
    """A relay that gzips the body: aiohttp inflates it past its Content-Length; the HMAC is
    of the JSON itself, as Meta signed it."""
    body, headers = wa.signed(wa.payload(wa.value([wa.text("HLH-7Q2K " + "x" * 5000)])))
    async with webhook_client(wa_settings()) as (ctx, client):
        answer = await client.post(URL, data=gzip.compress(body),
                                   headers={**headers, "Content-Encoding": "gzip"})
        (stored,) = await items(ctx)
        assert answer.status == 200 and await raw_bytes(ctx, stored.id) == body


async def test_a_signed_body_that_is_not_json_is_kept_and_answered_400(wa_settings):
    body, headers = wa.signed(b"this is {not json")
    async with webhook_client(wa_settings()) as (ctx, client):
        answer = await client.post(URL, data=body, headers=headers)
        retry = await client.post(URL, data=body, headers=headers)
        (kept,) = await items(ctx)
        assert (answer.status, retry.status) == (400, 400) and "not JSON" in await answer.text()
        assert await raw_bytes(ctx, kept.id) == body  # for an operator; the retry deduped


async def test_a_2_mb_payload_is_stored_and_one_over_3_mb_is_refused(wa_settings):
    big = wa.text("x" * (2 * 1024 * 1024))
    body, headers = wa.signed(wa.payload(wa.value([big])))
    huge, huge_headers = wa.signed(b"{" + b" " * MAX_BODY + b"}")
    async with webhook_client(wa_settings()) as (ctx, client):
        answer = await client.post(URL, data=body, headers=headers)
        refused = await client.post(URL, data=huge, headers=huge_headers)
        (stored,) = await items(ctx)
        assert answer.status == 200 and refused.status == 413
        assert stored.raw_size > 2 * 1024 * 1024
        assert await ctx.blobs.get_bytes(stored.raw_sha256)  # over INLINE_MAX: a blob
        assert json.loads(await raw_bytes(ctx, stored.id))["entry"][0]["changes"][0]["value"][
            "messages"][0]["text"]["body"] == big["text"]["body"]


async def test_storage_trouble_answers_503_so_meta_retries(wa_settings):
    body, headers = wa.signed(wa.payload(wa.value([wa.text("retry me")])))
    async with webhook_client(wa_settings()) as (ctx, client):
        await FailingInserts.install(ctx.db, failures=1)
        failed = await client.post(URL, data=body, headers=headers)
        assert failed.status == 503 and await count(ctx) == 0
        retried = await client.post(URL, data=body, headers=headers)
        assert retried.status == 200 and await count(ctx) == 1


async def test_a_post_given_up_during_a_shared_commit_leaves_the_commit_to_the_others(
        wa_settings):
    """Concurrent POSTs share one commit; a client that hangs up cancels its own wait only:
    the commit goes on and the others hear it (what it kept dedupes Meta's retry)."""
    held, entered = asyncio.Event(), asyncio.Event()
    async with webhook_client(wa_settings()) as (ctx, _):

        async def slow_accept_many(raws):
            entered.set()
            await held.wait()
            return await accept_many(ctx, raws)

        store = GroupCommit(slow_accept_many)
        bodies = [wa.signed(wa.payload(wa.value([wa.text(f"note {n}")])))[0] for n in range(3)]
        posts = [split_events(body, json.loads(body)) for body in bodies]
        waits = [asyncio.create_task(store(raws)) for raws in posts]
        await entered.wait()  # one commit holds all three
        waits[0].cancel()
        held.set()
        answers = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 30)
        assert isinstance(answers[0], asyncio.CancelledError)
        assert [len(a) for a in answers[1:]] == [1, 1] and await count(ctx) == 3


async def test_without_the_verify_token_there_is_no_webhook(wa_settings):
    async with webhook_client(wa_settings(whatsapp_verify_token="",
                                          whatsapp_app_secret="")) as (ctx, client):
        body, headers = wa.signed(wa.payload(wa.value([wa.text("hello")])))
        answer = await client.post(URL, data=body, headers=headers, allow_redirects=False)
        assert answer.status != 200 and await count(ctx) == 0  # the browser app's refusal
