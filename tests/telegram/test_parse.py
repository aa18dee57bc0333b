"""parsers.telegram: Bot API updates read into plain data, never raising on odd ones."""

from __future__ import annotations

import json

import pytest

from channels.telegram import envelope, raw_item
from intake.chat.turn import features_of
from parsers.telegram import parse_update
from tests.telegram import updates as tg
from tests.telegram.fake_api import BOT_USERNAME, FakeFile


def _raw(update: dict) -> bytes:
    return json.dumps({"update_id": 5, **update}).encode()


def test_a_deep_link_start_is_a_command_with_its_payload():
    parsed = parse_update(_raw(tg.command("/start HLH-7K2QX-M", sender=tg.user(7, "fr"))))
    assert (parsed.command, parsed.args) == ("start", "HLH-7K2QX-M")
    features = features_of(parsed, "telegram", "tg")
    assert features.start_payload == "HLH-7K2QX-M" and features.sender == "tg:7"
    assert features.language == "fr" and features.chat_id == "7"
    assert features.channel == "telegram" and parsed.malformed is None


def test_a_command_for_another_bot_in_a_group_is_plain_text():
    mine = parse_update(_raw(tg.command(f"/brief@{BOT_USERNAME} X", chat_id=-5)), BOT_USERNAME)
    other = parse_update(_raw(tg.command("/brief@other_bot X", chat_id=-5)), BOT_USERNAME)
    assert mine.command == "brief" and mine.chat_type == "supergroup"
    assert other.command is None and other.for_other_bot


def test_a_photo_is_read_at_its_largest_size_with_its_caption():
    fake = FakeFile("F1", "U1", b"", 123_456, "p")
    parsed = parse_update(_raw(tg.photo(fake, "Garden HLH-7K2QX-M", media_group_id="g1")))
    (medium,) = parsed.media
    assert (medium.file_id, medium.unique_id, medium.file_size) == ("F1", "U1", 123_456)
    assert medium.declared_kind == "image" and parsed.text == "Garden HLH-7K2QX-M"
    assert parsed.media_group_id == "g1"


def test_a_document_keeps_its_name_for_matching():
    document = {"file_id": "D", "file_unique_id": "DU", "file_name": "HLH-7K2QX-M final.mp4",
                "mime_type": "video/mp4", "file_size": 10}
    parsed = parse_update(_raw(tg.update(document=document)))
    assert features_of(parsed, "telegram", "tg").filenames == ["HLH-7K2QX-M final.mp4"]
    assert parsed.media[0].declared_kind == "video"


def test_forwards_and_replies_keep_their_context():
    origin = {"type": "user", "date": 1, "sender_user": tg.user(9, first="Rahel")}
    parsed = parse_update(_raw(tg.update(text="fwd", forward_origin=origin,
                                         reply_to_message={"message_id": 3})))
    assert parsed.forward == "user: Rahel" and parsed.reply_to == 3
    assert features_of(parsed, "telegram", "tg").references == [f"tg:{parsed.chat_id}:3"]


def test_an_edit_and_a_callback_are_told_apart():
    edit = parse_update(_raw(tg.edited(tg.update(text="a"), "b")))
    tap = parse_update(_raw(tg.callback("a:1:2", 44, sender=tg.user(8))))
    assert edit.is_edit and edit.text == "b"
    assert tap.kind == "callback_query" and tap.choice_data == "a:1:2" and tap.is_choice
    assert tap.chat_id == "8" and tap.message_id == 44


@pytest.mark.parametrize("raw, why", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"message": {"message_id": 1, "chat": {"id": 2}}}', "no update_id"),
    (b'{"update_id": 1, "message": "text"}', "not an object"),
    (b'{"update_id": 1, "message": {"message_id": "x", "chat": "no"}}', "chat id"),
    (b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 2}, "video": {}}}',
     "video without a usable file id"),
])
def test_malformed_updates_say_why_and_never_raise(raw, why):
    assert why in parse_update(raw).malformed


def test_a_sticker_is_kept_as_other():
    parsed = parse_update(_raw(tg.update(sticker={"file_id": "S", "file_unique_id": "SU"})))
    assert parsed.other == "sticker" and parsed.malformed is None and not parsed.media


def test_the_channel_reads_the_envelope_without_trusting_the_shape():
    item = raw_item(_raw(tg.update(text="x", sender=tg.user(11, "es"), media_group_id=77)),
                    "42")
    assert item.external_id == "42:5" and item.channel == "telegram"
    assert item.source == {"bot_id": "42", "kind": "message", "chat_id": "11",
                           "user_id": "11", "language": "es",
                           "message_id": item.source["message_id"], "media_group_id": "77"}
    assert envelope({"update_id": 1, "message": {"chat": "odd", "message_id": "7"}}) == {
        "kind": "message"}
    assert raw_item(b"\xff garbage", "42").external_id is None
