"""WhatsApp Cloud API webhook payloads read into plain data: who, what, media, replies, statuses."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from channels.chat import CHOICE, MESSAGE, OTHER, PRIVATE, ChatFile, ChatUpdate
from channels.whatsapp import chat_key, language_of_number
from parsers.refcode import DEFAULT_PREFIX, find_codes

# Message types that carry a medium under their own key, and what each probably is before
# its bytes are sniffed (only used when it cannot be downloaded).
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "document",
               "sticker": "image"}
# Types kept and answered with nothing to match: a reaction, a sticker alone, a system note.
QUIET_TYPES = {"reaction", "sticker", "system", "ephemeral", "unsupported", "request_welcome"}


@dataclass
class WaMedia:
    """One medium a message carries, as Meta describes it (nothing downloaded yet)."""

    kind: str  # image | video | audio | document | sticker
    media_id: str  # for the Graph API: GET /<media id> gives a short-lived URL
    mime: str | None = None  # declared by the sender's phone, never trusted
    sha256: str | None = None  # declared by Meta (base64 or hex); ours is taken of the bytes
    file_name: str | None = None  # documents only
    voice: bool = False  # an audio recorded as a voice note
    animated: bool = False  # a sticker that moves

    @property
    def declared_kind(self) -> str:
        if self.kind == "document" and self.mime and self.mime.split("/")[0] in (
                "video", "audio", "image"):
            return self.mime.split("/")[0]
        return MEDIA_TYPES.get(self.kind, "other")


@dataclass
class WaMessage:
    """What intake needs of one webhook event; `malformed` says why part of it is unreadable."""

    kind: str = "unknown"  # message | status | error | change | unknown
    type: str | None = None  # the message's type: text, image, interactive, reaction, ...
    message_id: str | None = None  # the wamid
    chat_id: str | None = None  # the sender's WhatsApp id (their number, digits only)
    user_name: str | None = None  # their profile name
    phone_number_id: str | None = None  # our number it was sent to
    display_number: str | None = None  # our number as people dial it
    timestamp: int | None = None  # seconds since the epoch, when they sent it
    text: str = ""  # the text, a caption, or the title of the button or row chosen
    media: list[WaMedia] = field(default_factory=list)
    reply_to: str | None = None  # context.id: the message this one answers (or is a button of)
    forwarded: bool = False
    choice: str | None = None  # the id of the reply button or list row chosen
    location: dict | None = None  # latitude, longitude, name, address
    contacts: list[dict] = field(default_factory=list)  # shared contact cards, as they came
    reaction: dict | None = None  # message_id and emoji ("" when a reaction is removed)
    status: str | None = None  # sent | delivered | read | failed (statuses)
    errors: list[dict] = field(default_factory=list)  # code and title, of an event or status
    other: str | None = None  # a type we keep but do not read
    malformed: str | None = None

    @property
    def is_message(self) -> bool:
        return self.kind == "message"

    @property
    def quiet(self) -> bool:
        """Kept, but nothing to match or answer (a reaction, a sticker alone, a status)."""
        if not self.is_message:
            return True
        return self.type in QUIET_TYPES and not self.text

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> WaMessage:
        return cls(**{**data, "media": [WaMedia(**m) for m in data.get("media", [])]})


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _errors(value: object) -> list[dict]:
    return [{"code": _int(e.get("code")), "title": _str(e.get("title") or e.get("message"))}
            for e in map(_dict, _list(value))]


def _read_media(found: WaMessage, kind: str, body: dict) -> None:
    media_id = _str(body.get("id"))
    if not media_id:
        found.malformed = f"{kind} without a media id"
        return
    found.media.append(WaMedia(kind, media_id, _str(body.get("mime_type")),
                               _str(body.get("sha256")), _str(body.get("filename")),
                               voice=body.get("voice") is True,
                               animated=body.get("animated") is True))
    found.text = _str(body.get("caption")) or ""


def _read_interactive(found: WaMessage, body: dict) -> None:
    """A tap on one of our reply buttons or list rows: its id says what was chosen."""
    chosen = _dict(body.get("button_reply") or body.get("list_reply"))
    found.choice = _str(chosen.get("id"))
    found.text = _str(chosen.get("title")) or ""
    if not found.choice:
        found.malformed = "interactive reply without an id"


def _read_body(found: WaMessage, kind: str, body: object) -> None:
    body = _dict(body)
    if kind == "text":
        found.text = _str(body.get("body")) or ""
    elif kind in MEDIA_TYPES:
        _read_media(found, kind, body)
    elif kind == "interactive":
        _read_interactive(found, body)
    elif kind == "button":  # a quick-reply button of a template
        found.choice = _str(body.get("payload"))
        found.text = _str(body.get("text")) or ""
    elif kind == "location":
        found.location = {k: body.get(k) for k in ("latitude", "longitude", "name", "address",
                                                   "url") if body.get(k) is not None}
    elif kind == "reaction":
        found.reaction = {"message_id": _str(body.get("message_id")),
                          "emoji": body.get("emoji") if isinstance(body.get("emoji"), str)
                          else ""}
    else:
        found.other = kind


def _read_message(found: WaMessage, message: dict, value: dict) -> None:
    found.kind = "message"
    found.type = _str(message.get("type")) or "unknown"
    found.message_id, found.chat_id = _str(message.get("id")), _str(message.get("from"))
    found.timestamp = _int(message.get("timestamp"))
    context = _dict(message.get("context"))
    found.reply_to = _str(context.get("id"))
    found.forwarded = bool(context.get("forwarded") or context.get("frequently_forwarded"))
    contact = next((c for c in map(_dict, _list(value.get("contacts")))
                    if c.get("wa_id") == found.chat_id), {})
    found.user_name = _str(_dict(contact.get("profile")).get("name"))
    found.errors = _errors(message.get("errors"))
    if found.type == "contacts":
        found.contacts = [c for c in _list(message.get("contacts")) if isinstance(c, dict)]
    else:
        _read_body(found, found.type, message.get(found.type))
    if not found.message_id:
        found.malformed = "message without an id"
    elif not found.chat_id:
        found.malformed = "message without a sender"


def _read_status(found: WaMessage, status: dict) -> None:
    found.kind, found.type = "status", "status"
    found.message_id, found.chat_id = _str(status.get("id")), _str(status.get("recipient_id"))
    found.status, found.timestamp = _str(status.get("status")), _int(status.get("timestamp"))
    found.errors = _errors(status.get("errors"))


def _event(value: dict, key: str, event: dict) -> WaMessage:
    metadata = _dict(value.get("metadata"))
    found = WaMessage(phone_number_id=_str(metadata.get("phone_number_id")),
                      display_number=_str(metadata.get("display_phone_number")))
    if key == "messages":
        _read_message(found, event, value)
    elif key == "statuses":
        _read_status(found, event)
    else:
        found.kind, found.errors = "error", _errors([event])
    return found


def read_payload(data: object) -> list[WaMessage]:
    """Every event of a webhook payload (several entries and changes), in order."""
    events = []
    for entry in map(_dict, _list(_dict(data).get("entry"))):
        for change in map(_dict, _list(entry.get("changes"))):
            value = _dict(change.get("value"))
            found = [_event(value, key, _dict(event)) for key in ("messages", "statuses",
                                                                  "errors")
                     for event in _list(value.get(key))]
            events.extend(found or [WaMessage(kind="change",
                                              other=_str(change.get("field")) or "unknown")])
    return events


def parse_event(raw: bytes | str) -> WaMessage:
    """Read one stored event (a payload holding one message or status); never raises."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return WaMessage(malformed=f"not JSON: {exc}"[:300])
    if not isinstance(data, dict):
        return WaMessage(malformed="not a JSON object")
    events = read_payload(data)
    if not events:
        return WaMessage(malformed=f"no entry in a {data.get('object')!r} payload"[:300])
    if len(events) > 1:  # split_events stores one each; more means it came some other way
        first = events[0]
        first.malformed = f"{len(events)} events in one item; only the first read"
        return first
    return events[0]


# -- as the chat core sees it ----------------------------------------------------------------

# WhatsApp has no commands: a message that is only one of these words is one (a leading "/"
# works too). The word's language becomes the chat's ("nouveau": French from now on).
KEYWORDS = {
    "new": ("new", None), "nouveau": ("new", "fr"), "nouvelle": ("new", "fr"),
    "nuevo": ("new", "es"), "nueva": ("new", "es"), "novo": ("new", "pt"),
    "status": ("status", None), "statut": ("status", "fr"), "estado": ("status", "es"),
    "help": ("help", None), "aide": ("help", "fr"), "ayuda": ("help", "es"),
    "ajuda": ("help", "pt"), "menu": ("help", None), "start": ("help", None),
    "hi": ("help", None), "hello": ("help", None), "bonjour": ("help", "fr"),
    "salut": ("help", "fr"), "hola": ("help", "es"), "ola": ("help", "pt"),
    "cancel": ("cancel", None), "stop": ("cancel", None), "annuler": ("cancel", "fr"),
    "cancelar": ("cancel", "es"),
    "brief": ("brief", None), "code": ("brief", None), "codigo": ("brief", None),
}
BIND_WORDS = 8  # a text-only message with a code and at most this many other words binds
_WORD = re.compile(r"[^\W_]+")
_FOLD = str.maketrans("áéíóúàèçãõâêô", "aeiouaecaoaeo")


def _command(text: str) -> tuple[str, str, str | None] | None:
    """(command, args, language) when the text is a keyword, "/word", or "word <args>"."""
    stripped = text.strip()
    word, _, args = stripped.lstrip("/").partition(" ")
    key = word.lower().translate(_FOLD).strip("!.?¡¿")
    if stripped.startswith("/") and key:
        command, lang = KEYWORDS.get(key, (key, None))
        return command[:32], args.strip(), lang
    if key in KEYWORDS and (not args.strip() or KEYWORDS[key][0] == "brief"):
        command, lang = KEYWORDS[key]
        return command, args.strip(), lang
    return None


def _binding_code(text: str, prefix: str) -> str | None:
    """A short text holding a valid code binds the chat (what a wa.me link types in)."""
    codes = [hit for hit in find_codes(text, prefix) if hit.valid]
    if not codes:
        return None
    rest = text[:codes[0].start] + text[codes[0].end:]
    return codes[0].code if len(_WORD.findall(rest)) <= BIND_WORDS else None


def _render_location(place: dict) -> str:
    where = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
    lat, lon = place.get("latitude"), place.get("longitude")
    point = f"{lat}, {lon}" if lat is not None and lon is not None else ""
    return " ".join(p for p in (f"📍 {where}".strip(), f"({point})" if point else "") if p)


def _render_contacts(cards: list[dict]) -> str:
    lines = []
    for card in cards:
        name = _str(_dict(card.get("name")).get("formatted_name")) or "?"
        phones = [_str(_dict(p).get("phone")) for p in _list(card.get("phones"))]
        mails = [_str(_dict(m).get("email")) for m in _list(card.get("emails"))]
        lines.append(" ".join([f"👤 {name}", *[x for x in phones + mails if x]]))
    return "\n".join(lines)


def _chat_file(medium: WaMedia) -> ChatFile:
    kind = "voice" if medium.voice else medium.kind
    return ChatFile(kind, medium.media_id, medium.media_id, mime=medium.mime,
                    file_name=medium.file_name, declared_kind=medium.declared_kind)


def _content(found: WaMessage) -> str:
    if found.location:
        return _render_location(found.location)
    if found.contacts:
        return _render_contacts(found.contacts)
    return found.text


def _event_of(found: WaMessage) -> str:
    if not found.is_message or found.quiet:
        return OTHER
    return CHOICE if found.choice else MESSAGE


def to_update(found: WaMessage, prefix: str = DEFAULT_PREFIX) -> ChatUpdate:
    """A read WhatsApp event as the chat core's ChatUpdate."""
    name = f"{found.user_name} (+{found.chat_id})" if found.user_name else (
        f"+{found.chat_id}" if found.chat_id else None)
    kind = {"message": "messages", "status": "statuses", "error": "errors"}.get(found.kind,
                                                                              found.kind)
    update = ChatUpdate(
        kind=kind, event=_event_of(found),
        chat_id=chat_key(found.chat_id) if found.chat_id else None, chat_type=PRIVATE,
        user_id=found.chat_id, user_name=name, language=language_of_number(found.chat_id),
        message_id=found.message_id, text=_content(found),
        media=[_chat_file(m) for m in found.media], reply_to=found.reply_to,
        forward="forwarded" if found.forwarded else None, choice_data=found.choice,
        other=found.other or (found.type if _event_of(found) == OTHER else None),
        malformed=found.malformed)
    if update.event == MESSAGE and not update.media:
        _read_words(update, prefix)
    return update


def _read_words(update: ChatUpdate, prefix: str) -> None:
    """Keywords are commands; a short message holding a code binds (like /start CODE)."""
    command = _command(update.text)
    if command is not None:
        update.command, update.args, lang = command
        update.language = lang or update.language
    elif (code := _binding_code(update.text, prefix)) is not None:
        update.command, update.args = "start", code


def parse_update(raw: bytes, handle: str | None = None,
                 prefix: str = DEFAULT_PREFIX) -> ChatUpdate:
    """The chat core's UpdateParser for WhatsApp (a functools.partial gives the prefix)."""
    return to_update(parse_event(raw), prefix)
