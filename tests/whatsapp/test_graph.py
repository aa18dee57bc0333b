"""The Graph API client and the WhatsApp transport against the fake Graph API (loopback)."""

from __future__ import annotations

import pytest

from channels.chat import ChatFile, ChatReply, Choice, FileTooBig, OutsideWindow
from channels.chat import RateLimited as ChatRateLimited
from channels.whatsapp import (
    BadToken,
    GraphClient,
    MediaTooBig,
    RateLimited,
    WhatsAppChannel,
    WhatsAppFailure,
    WhatsAppOptions,
    WindowClosed,
)
from tests.whatsapp.fake_graph import DISPLAY_NUMBER, FakeGraph

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 8


def options(graph: FakeGraph, **more) -> WhatsAppOptions:  # noqa: ANN003
    return WhatsAppOptions(graph.token, graph.phone_number_id, graph.api_url, **more)


async def test_phone_number_checks_token_and_number(graph):
    async with GraphClient(options(graph)) as client:
        number = await client.phone_number()
    async with GraphClient(WhatsAppOptions("wrong", graph.phone_number_id,
                                           graph.api_url)) as client:
        with pytest.raises(BadToken, match="190"):
            await client.phone_number()
    assert number.display == DISPLAY_NUMBER and number.digits == "15550104242"
    assert number.link("HLH-7K2QX-4") == "https://wa.me/15550104242?text=HLH-7K2QX-4"


async def test_media_is_fetched_with_the_bearer_token(graph, tmp_path):
    media_id = graph.add_medium(MP4)
    async with GraphClient(options(graph)) as client:
        path = await client.download(media_id, tmp_path, None)
        with pytest.raises(WhatsAppFailure, match="Unsupported get request"):
            await client.download("404404", tmp_path, None)
    async with GraphClient(WhatsAppOptions("wrong", "1", graph.api_url)) as client:
        with pytest.raises(BadToken):
            await client.download(media_id, tmp_path, None)
    assert path.read_bytes() == MP4 and graph.downloads == 1
    assert "GET /download/" + media_id in graph.calls


async def test_a_medium_over_the_limit_is_refused_before_or_while_fetching(graph, tmp_path):
    declared = graph.add_medium(MP4, size=20_000_000)
    understated = graph.add_medium(MP4, size=10)
    async with GraphClient(options(graph)) as client:
        with pytest.raises(MediaTooBig):
            await client.download(declared, tmp_path, 16_000_000)
        with pytest.raises(MediaTooBig):
            await client.download(understated, tmp_path, 100)
    assert graph.downloads == 1 and list(tmp_path.iterdir()) == []  # no half file left


async def test_rate_and_window_errors_are_typed_for_the_core(graph):
    graph.refuse(130429, "Rate limit hit", status=429)
    graph.refuse(131056, "(Business Account, Consumer Account) pair rate limit hit")
    graph.refuse(131047, "Re-engagement message")
    graph.refuse(131026, "Message undeliverable")
    async with GraphClient(options(graph)) as client:
        errors = []
        for _ in range(4):
            with pytest.raises(WhatsAppFailure) as caught:
                await client.send_text("22501", "hello")
            errors.append(caught.value)
    throughput, pair, window, other = errors
    assert isinstance(throughput, RateLimited) and isinstance(throughput, ChatRateLimited)
    assert throughput.retry_after and pair.code == 131056 and isinstance(pair, RateLimited)
    assert isinstance(window, WindowClosed) and isinstance(window, OutsideWindow)
    assert window.retry_after is None
    assert type(other) is WhatsAppFailure and other.retry_after is None
    assert "131026" in str(other) and graph.sent == []


async def test_choices_show_as_buttons_up_to_three_and_as_a_list_up_to_ten(graph):
    channel = WhatsAppChannel(options(graph), DISPLAY_NUMBER)
    three = [Choice(f"HLH-7K2QX-{n} · Une pratique au titre assez long", f"a:1:{n}")
             for n in range(3)]
    seven = [Choice(f"HLH-7K2QX-{n} · Pratique {n}", f"a:2:{n}") for n in range(7)]
    try:
        await channel.send(ChatReply("22501", "Which one?", "wamid.IN1", three))
        await channel.send(ChatReply("22501", "Which one?", None, seven))
        await channel.send(ChatReply("22501", "x" * 5000))
    finally:
        await channel.close()
    buttons, menu, *long = graph.sent
    assert buttons["interactive"]["type"] == "button"
    assert buttons["context"] == {"message_id": "wamid.IN1"}
    titles = [b["reply"]["title"] for b in buttons["interactive"]["action"]["buttons"]]
    assert all(len(t) <= 20 for t in titles) and titles[0].startswith("HLH-7K2QX-0")
    rows = menu["interactive"]["action"]["sections"][0]["rows"]
    assert menu["interactive"]["type"] == "list" and len(rows) == 7
    assert rows[3] == {"id": "a:2:3", "title": "HLH-7K2QX-3", "description": "Pratique 3"}
    assert [len(m["text"]["body"]) for m in long] == [4096, 904]  # split at the limit
    assert channel.deep_link("HLH-7K2QX-4") == "https://wa.me/15550104242?text=HLH-7K2QX-4"


async def test_download_through_the_transport_uses_whatsapps_limit_by_kind(graph, tmp_path):
    channel = WhatsAppChannel(options(graph))
    video = graph.add_medium(MP4, size=17_000_000)
    document = graph.add_medium(MP4, mime="application/pdf", size=17_000_000)
    try:
        with pytest.raises(FileTooBig) as caught:
            await channel.download(ChatFile("video", video, video), tmp_path)
        got = await channel.download(ChatFile("document", document, document), tmp_path)
    finally:
        await channel.close()
    assert caught.value.limit == 16_000_000
    assert got.path.read_bytes() == MP4 and got.size == len(MP4)
