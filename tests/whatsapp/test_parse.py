"""parsers/whatsapp.py on the Cloud API's payload shapes, and the channel's cut into events."""

from __future__ import annotations

import json

from channels.whatsapp import WHATSAPP_EVENT, split_events
from parsers.whatsapp import parse_event, read_payload
from tests.whatsapp import payloads as wa


def one(msg: dict) -> object:
    (event,) = read_payload(wa.payload(wa.value([msg])))
    return event


def test_text_reads_sender_name_and_number():
    event = one(wa.text("Bonjour HLH-7Q2K", sender="22507000001"))
    assert (event.kind, event.type, event.text) == ("message", "text", "Bonjour HLH-7Q2K")
    assert event.chat_id == "22507000001" and event.user_name == "Amina"
    assert event.phone_number_id == wa.PHONE_NUMBER_ID and event.message_id.startswith("wamid.")
    assert not event.quiet and event.malformed is None


def test_media_of_every_kind_keeps_its_id_and_caption():
    image = one(wa.message("image", {"id": "1", "mime_type": "image/jpeg", "sha256": "x",
                                     "caption": "la pompe"}))
    clip = one(wa.video("2", caption="the garden"))
    voice = one(wa.message("audio", {"id": "3", "mime_type": "audio/ogg; codecs=opus",
                                     "voice": True}))
    doc = one(wa.message("document", {"id": "4", "mime_type": "video/quicktime",
                                      "filename": "report.mov"}))
    assert (image.media[0].kind, image.text) == ("image", "la pompe")
    assert (clip.media[0].media_id, clip.media[0].declared_kind, clip.text) == (
        "2", "video", "the garden")
    assert voice.media[0].voice and voice.media[0].declared_kind == "audio"
    assert doc.media[0].file_name == "report.mov" and doc.media[0].declared_kind == "video"


def test_a_medium_without_its_id_is_malformed():
    assert one(wa.message("video", {"mime_type": "video/mp4"})).malformed == (
        "video without a media id")


def test_location_contacts_reply_context_and_forward():
    place = one(wa.message("location", {"latitude": 5.35, "longitude": -4.02,
                                        "name": "Marché"}))
    cards = one(wa.message("contacts", None) | {"contacts": [
        {"name": {"formatted_name": "Kofi"}, "phones": [{"phone": "+233 20 000"}]}]})
    answer = one(wa.text("this one", context={"from": "15550104242", "id": "wamid.OUT1"}))
    forwarded = one(wa.text("fwd", context={"forwarded": True}))
    assert place.location == {"latitude": 5.35, "longitude": -4.02, "name": "Marché"}
    assert cards.contacts[0]["name"]["formatted_name"] == "Kofi"
    assert answer.reply_to == "wamid.OUT1" and forwarded.forwarded


def test_button_and_list_replies_give_the_choice_and_the_message_they_answer():
    button = one(wa.button_reply("brief:12", "Water points", to="wamid.OUT7"))
    row = one(wa.list_reply("brief:31", "Solar pumps", to="wamid.OUT8"))
    template = one(wa.message("button", {"payload": "STOP", "text": "Stop"}))
    assert (button.choice, button.text, button.reply_to) == ("brief:12", "Water points",
                                                             "wamid.OUT7")
    assert (row.choice, row.reply_to) == ("brief:31", "wamid.OUT8")
    assert template.choice == "STOP"


def test_reactions_stickers_and_unknown_types_are_quiet():
    reaction = one(wa.message("reaction", {"message_id": "wamid.OUT1", "emoji": "👍"}))
    sticker = one(wa.message("sticker", {"id": "9", "mime_type": "image/webp",
                                         "animated": False}))
    odd = one(wa.message("unsupported", None) | {"errors": [
        {"code": 131051, "title": "Message type unknown"}]})
    future = one(wa.message("hologram", {"id": "1"}))
    assert reaction.reaction == {"message_id": "wamid.OUT1", "emoji": "👍"} and reaction.quiet
    assert sticker.quiet and sticker.media[0].kind == "sticker"
    assert odd.quiet and odd.errors == [{"code": 131051, "title": "Message type unknown"}]
    assert future.other == "hologram" and future.malformed is None


def test_statuses_and_failed_statuses():
    sent, failed = read_payload(wa.payload(wa.value(statuses=[
        wa.status("wamid.OUT1", "read"),
        wa.status("wamid.OUT2", "failed") | {"errors": [{"code": 131047,
                                                         "title": "Re-engagement message"}]}])))
    assert (sent.kind, sent.status, sent.chat_id) == ("status", "read", "15550001111")
    assert failed.errors[0]["code"] == 131047 and failed.quiet


def test_a_batch_is_cut_into_one_item_per_event_each_readable_alone():
    data = wa.payload(wa.value([wa.text("a", sender="1"), wa.text("b", sender="2")]),
                      wa.value([wa.video("5", sender="3")], statuses=[wa.status("wamid.X")]),
                      entries=2)
    body = json.dumps(data).encode()
    items = split_events(body, data)
    events = [parse_event(item.raw) for item in items]
    assert [e.text or e.type for e in events] == ["a", "b", "video", "status"]
    assert [i.source.get("chat_id") for i in items] == ["+1", "+2", "+3", None]
    assert items[3].external_id == "status:wamid.X:delivered"
    assert {i.content_type for i in items} == {WHATSAPP_EVENT}
    assert events[0].user_name == "Amina" and all(e.malformed is None for e in events)


def test_a_post_of_one_message_is_kept_as_the_bytes_meta_signed():
    body, headers = wa.signed(wa.payload(wa.value([wa.text("as it came", sender="7")])))
    (item,) = split_events(body, json.loads(body))
    assert item.raw == body and parse_event(item.raw).text == "as it came"
    # Two messages in one POST: each its own unit, neither the whole body.
    two = json.dumps(wa.payload(wa.value([wa.text("a"), wa.text("b")]))).encode()
    assert all(item.raw != two for item in split_events(two, json.loads(two)))


def test_not_json_and_not_a_payload_are_malformed_not_raised():
    assert parse_event(b"\xff{").malformed.startswith("not JSON")
    assert parse_event(b"[]").malformed == "not a JSON object"
    (kept,) = split_events(b"[]", [])
    assert kept.raw == b"[]" and kept.external_id is None
    change = parse_event(json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [{"field": "account_update", "value": {}}]}]}))
    assert (change.kind, change.other) == ("change", "account_update")
