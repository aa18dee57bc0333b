"""WhatsApp Cloud API transport: the signed webhook made durable through accept, Graph calls out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp
import orjson

from channels import chat
from channels.contract import WHATSAPP_EVENT, AcceptMany, RawItem, Rejected, TryLater

log = logging.getLogger(__name__)

CLOUD_API = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# Meta caps a webhook payload at 3 MB; more than that is not from Meta (or not whole).
MAX_BODY = 3 * 1024 * 1024
# What WhatsApp itself carries (Cloud API media limits): a sender's phone will not send more.
DELIVERY_LIMITS = {"video": 16_000_000, "audio": 16_000_000, "image": 5_000_000,
                   "sticker": 500_000, "document": 100_000_000}
MAX_BUTTONS = 3  # reply buttons per interactive message
MAX_ROWS = 10  # rows of a list message, all sections together
TEXT_LIMIT = 4096  # characters of a text message
BODY_LIMIT = 1024  # characters of an interactive message's body
BUTTON_TITLE = 20  # characters of a reply button's title (and of a list's button)
ROW_TITLE, ROW_DESCRIPTION = 24, 72
# Graph error codes (developers.facebook.com, "WhatsApp Cloud API error codes").
RATE_CODES = {4, 80007, 130429, 131048, 131056}  # app, account, throughput, spam, pair rate
WINDOW_CODES = {131047}  # more than 24 hours since the user last wrote: template only
TOKEN_CODES = {190}  # access token expired or invalid
RATE_PAUSE = 60.0  # seconds to wait after a rate error (Graph gives no Retry-After)


# -- errors ------------------------------------------------------------------------------


class WhatsAppFailure(chat.ChatFailure):
    """A Graph API call failed; `code` is Meta's error code, `retry_after` set when a later
    attempt may work. The subclasses are also the chat core's kinds of failure."""

    def __init__(self, message: str, code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.code = code


class RateLimited(WhatsAppFailure, chat.RateLimited):
    """Too many messages (to this user, from this number, or by this app): wait, then retry."""


class WindowClosed(WhatsAppFailure, chat.OutsideWindow):
    """The 24-hour customer-service window is closed: only a template may be sent."""


class BadToken(WhatsAppFailure):
    """The access token is expired or wrong."""


class MediaTooBig(WhatsAppFailure, chat.FileTooBig):
    """The medium is larger than WhatsApp delivers (or than we fetch)."""

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


def failure_of(status: int, body: object) -> WhatsAppFailure:
    """The typed error for a Graph error answer (the one place Meta's codes are mapped)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    details = error.get("error_data", {}).get("details") if isinstance(
        error.get("error_data"), dict) else None
    message = f"Graph API {status}: {error.get('message') or 'no error message'}"
    message += f" ({details})" if details else ""
    message += f" [code {code}]" if code is not None else ""
    if code in RATE_CODES or status == 429:
        return RateLimited(message, code, RATE_PAUSE)
    if code in WINDOW_CODES:
        return WindowClosed(message, code)
    if code in TOKEN_CODES or status == 401:
        return BadToken(message, code)
    return WhatsAppFailure(message, code, 5.0 if status >= 500 else None)


# -- webhook -----------------------------------------------------------------------------


def verify_subscription(query: Mapping[str, str], verify_token: str) -> tuple[int, str]:
    """Meta's GET handshake: (status, body). The challenge is echoed only to the right token."""
    given = query.get("hub.verify_token", "")
    if query.get("hub.mode") != "subscribe" or not verify_token:
        return 400, "not a subscription request"
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return 403, "wrong verify token"
    return 200, query.get("hub.challenge", "")


def signature_ok(app_secret: str, header: str | None, body: bytes) -> bool:
    """X-Hub-Signature-256 is "sha256=<hex HMAC of the raw body>", compared in constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].strip().lower().encode(), expected.encode())


def sign(app_secret: str, body: bytes) -> str:
    """The header Meta would send with this body (tests, benchmarks, a relaying proxy)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _unit(entry: dict, change: dict, key: str, event: dict, contacts: list) -> dict:
    """One event in the shape of a whole webhook payload holding just it."""
    value = {k: v for k, v in _dict(change.get("value")).items()
             if k not in ("messages", "statuses", "contacts", "errors")}
    value[key] = [event]
    sender = event.get("from")
    mine = [c for c in contacts if isinstance(c, dict) and c.get("wa_id") == sender]
    if mine:
        value["contacts"] = mine
    return {"object": "whatsapp_business_account",
            "entry": [{"id": entry.get("id"), "changes": [{"field": change.get("field"),
                                                           "value": value}]}]}


def _external_id(key: str, event: dict) -> str | None:
    ident = event.get("id")
    if not isinstance(ident, str) or not ident:
        return None
    if key == "statuses":  # one message has several statuses (sent, delivered, read)
        return f"status:{ident}:{event.get('status')}"
    return ident if key == "messages" else f"{key}:{ident}"


def _source(entry: dict, change: dict, key: str, event: dict) -> dict:
    found = {"kind": key, "field": change.get("field"), "waba_id": entry.get("id"),
             "phone_number_id": _dict(_dict(change.get("value")).get("metadata")).get(
                 "phone_number_id"),
             "message_id": event.get("id")}
    # Only messages join their chat's queue (chat_id); a status names its recipient aside,
    # so that a flood of "delivered"/"read" never holds a sender's next message back.
    if key == "messages":
        sender = found["user_id"] = event.get("from")
        if isinstance(sender, str):
            found.update(chat_id=chat_key(sender), language=language_of_number(sender))
    else:
        found["recipient"] = event.get("recipient_id")
    return {k: str(v) for k, v in found.items() if isinstance(v, str | int)}


def split_events(body: bytes, data: object) -> list[RawItem]:
    """A webhook POST cut into one raw item per message (or status, or other change).

    Meta batches several entries and changes into one POST; each message is its own item
    (its own dedupe key, the wamid, so a retried POST stores nothing twice). A change that
    carries no message or status (an account update, an unknown field) is kept whole. A
    body that is not a payload at all is kept as it came, for an operator to see. A POST of
    one event, as Meta mostly sends, is its own unit: kept as the bytes that were signed."""
    items = []
    for entry in _list(_dict(data).get("entry")):
        for change in _list(_dict(entry).get("changes")):
            items.extend(_change_items(_dict(entry), _dict(change), body, data))
    if not items:
        items.append(RawItem("whatsapp", body, WHATSAPP_EVENT, None, {"kind": "unknown"}))
    return items


def _change_items(entry: dict, change: dict, body: bytes, data: object) -> list[RawItem]:
    value = _dict(change.get("value"))
    contacts = _list(value.get("contacts"))
    items = []
    for key in ("messages", "statuses", "errors"):
        for event in _list(value.get(key)):
            event = _dict(event)
            unit = _unit(entry, change, key, event, contacts)
            raw = body if unit == data else _dumps(unit)
            items.append(RawItem("whatsapp", raw, WHATSAPP_EVENT, _external_id(key, event),
                                 _source(entry, change, key, event)))
    if not items:
        unit = {"object": "whatsapp_business_account",
                "entry": [{"id": entry.get("id"), "changes": [change]}]}
        items.append(RawItem("whatsapp", _dumps(unit), WHATSAPP_EVENT, None,
                             {"kind": "change", "field": str(change.get("field"))}))
    return items


# 19 digits in a row may be an integer past 64 bits, which orjson would make a float.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _loads(body: bytes) -> object:
    """The body's JSON, or None. orjson first: it parses a webhook body in a third of the
    time, on the loop, for every POST. The standard library takes what orjson refuses but
    JSON allows (a lone surrogate escape, NaN) and any body with 19 digits in a row, where
    orjson would turn an integer past 64 bits into a float."""
    if not _LONG_NUMBER.search(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _dumps(unit: dict) -> bytes:
    """An event cut from a batch, as compact UTF-8 JSON; a lone surrogate, which UTF-8
    cannot hold, is written escaped (the whole event then in ASCII)."""
    try:
        return json.dumps(unit, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(unit, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    text: str = ""


async def receive_webhook(accept_many: AcceptMany, app_secret: str, signature: str | None,
                          body: bytes) -> WebhookAnswer:
    """One webhook POST, answered only once every event in it is durable.

    The signature is checked before a byte is parsed. Meta retries anything but 200 (for up
    to 7 days), so storage trouble answers 503 and it comes back; a body that is signed but
    no JSON is kept for an operator and answered 400 (Meta's retries of it dedupe)."""
    if not signature_ok(app_secret, signature, body):
        return WebhookAnswer(401, "bad or missing X-Hub-Signature-256")
    data = _loads(body)
    try:
        await accept_many(split_events(body, data))
    except TryLater:
        return WebhookAnswer(503, "storage unavailable, retry")
    except Rejected as exc:
        log.warning("whatsapp webhook: payload refused for good: %s", exc)
    if data is None:
        return WebhookAnswer(400, "body is not JSON (kept for an operator)")
    return WebhookAnswer(200, "ok")


# -- Graph API client ----------------------------------------------------------------------


@dataclass(frozen=True)
class WhatsAppOptions:
    token: str
    phone_number_id: str
    api_url: str = CLOUD_API
    template: str = ""  # an approved template sent when the 24-hour window is closed
    template_language: str = "en"


@dataclass(frozen=True)
class MediaInfo:
    """What Graph says about a medium before it is fetched (its URL lives five minutes)."""

    id: str
    url: str
    mime: str | None
    sha256: str | None  # declared by Meta; the bytes are hashed again on our side
    size: int | None


@dataclass(frozen=True)
class PhoneNumber:
    id: str
    display: str
    verified_name: str
    quality: str | None

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.display if ch.isdigit())

    def link(self, text: str) -> str:
        """The wa.me link that opens a chat with this number, the text typed in."""
        return wa_link(self.digits, text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GraphClient:
    """The few Graph API calls intake makes, on one aiohttp session (its own pool)."""

    def __init__(self, options: WhatsAppOptions, timeout: float = 30.0) -> None:
        self.options = options
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self.options.token}"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _url(self, path: str) -> str:
        return f"{self.options.api_url.rstrip('/')}/{path.lstrip('/')}"

    async def _call(self, method: str, path: str, **kwargs: object) -> dict:
        """One Graph call; a failure becomes a typed WhatsAppFailure (the one place)."""
        try:
            async with self.session.request(method, self._url(path), **kwargs) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                if response.status >= 400 or not isinstance(body, dict):
                    raise failure_of(response.status, body)
                return body
        except aiohttp.ClientError as exc:
            raise WhatsAppFailure(f"Graph API unreachable: {exc}", retry_after=5.0) from exc
        except TimeoutError as exc:
            raise WhatsAppFailure("Graph API timed out", retry_after=5.0) from exc

    # -- who we are ---------------------------------------------------------------------

    async def phone_number(self) -> PhoneNumber:
        """The sender number the token may use (checks both token and phone number id)."""
        body = await self._call("GET", self.options.phone_number_id, params={
            "fields": "id,display_phone_number,verified_name,quality_rating"})
        return PhoneNumber(str(body.get("id", self.options.phone_number_id)),
                           str(body.get("display_phone_number", "")),
                           str(body.get("verified_name", "")), body.get("quality_rating"))

    # -- media --------------------------------------------------------------------------

    async def media(self, media_id: str) -> MediaInfo:
        body = await self._call("GET", media_id)
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise WhatsAppFailure(f"Graph API gave no URL for medium {media_id}")
        size = body.get("file_size")
        return MediaInfo(media_id, url, body.get("mime_type"), body.get("sha256"),
                         int(size) if isinstance(size, int | str) and str(size).isdigit()
                         else None)

    async def download(self, media_id: str, spool: Path, limit: int | None) -> Path:
        """Fetch one medium into the spool folder (media id → URL → GET with the token)."""
        info = await self.media(media_id)
        if limit is not None and info.size is not None and info.size > limit:
            raise MediaTooBig(f"medium {media_id} is {info.size} bytes")
        return await self.fetch(info, spool, limit)

    async def fetch(self, info: MediaInfo, spool: Path, limit: int | None) -> Path:
        """GET a medium's URL (bearer token) into a new spool file, at most `limit` bytes."""
        spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=spool, prefix="wa-")
        target = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                await self._fetch_into(info, out, limit)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    async def _fetch_into(self, info: MediaInfo, out: object, limit: int | None) -> None:
        try:
            async with self.session.get(info.url) as response:
                if response.status >= 400:
                    raise failure_of(response.status, await _json_or_none(response))
                written = 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    written += len(chunk)
                    if limit is not None and written > limit:
                        raise MediaTooBig(f"medium {info.id} is over {limit} bytes")
                    await asyncio.to_thread(out.write, chunk)  # up to 100 MB: off the loop
        except aiohttp.ClientError as exc:
            raise WhatsAppFailure(f"medium {info.id} not fetched: {exc}", retry_after=5.0) from exc

    # -- sending ------------------------------------------------------------------------

    async def _send(self, to: str, kind: str, content: dict, reply_to: str | None) -> str:
        message = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                   "type": kind, kind: content}
        if reply_to:
            message["context"] = {"message_id": reply_to}
        body = await self._call("POST", f"{self.options.phone_number_id}/messages", json=message)
        sent = _list(body.get("messages"))
        return str(_dict(sent[0]).get("id", "")) if sent else ""

    async def send_text(self, to: str, text: str, reply_to: str | None = None) -> str:
        """Send text (split at WhatsApp's limit); returns the last message's wamid."""
        sent = ""
        for number, part in enumerate(chat.split_text(text, TEXT_LIMIT)):
            sent = await self._send(to, "text", {"body": part, "preview_url": False},
                                    reply_to if number == 0 else None)
        return sent

    async def send_buttons(self, to: str, text: str, buttons: Sequence[tuple[str, str]],
                           reply_to: str | None = None) -> str:
        """Text with up to three reply buttons, each (title, id)."""
        if not 0 < len(buttons) <= MAX_BUTTONS:
            raise ValueError(f"1 to {MAX_BUTTONS} buttons, not {len(buttons)}")
        action = {"buttons": [{"type": "reply", "reply": {"id": data[:256],
                                                          "title": _clip(title, BUTTON_TITLE)}}
                              for title, data in buttons]}
        return await self._send(to, "interactive", {
            "type": "button", "body": {"text": _clip(text, BODY_LIMIT)}, "action": action},
            reply_to)

    async def send_list(self, to: str, text: str, button: str,
                        rows: Sequence[tuple[str, str, str]], reply_to: str | None = None) -> str:
        """Text with a menu of up to ten rows, each (title, id, description)."""
        if not 0 < len(rows) <= MAX_ROWS:
            raise ValueError(f"1 to {MAX_ROWS} rows, not {len(rows)}")
        section = {"rows": [{"id": data[:200], "title": _clip(title, ROW_TITLE),
                             **({"description": _clip(about, ROW_DESCRIPTION)} if about else {})}
                            for title, data, about in rows]}
        return await self._send(to, "interactive", {
            "type": "list", "body": {"text": _clip(text, BODY_LIMIT)},
            "action": {"button": _clip(button, BUTTON_TITLE), "sections": [section]}}, reply_to)

    async def send_template(self, to: str, name: str, language: str,
                            parameters: Sequence[str] = ()) -> str:
        """An approved template: the only thing WhatsApp delivers outside the 24-hour window."""
        content: dict = {"name": name, "language": {"code": language}}
        if parameters:
            content["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": value} for value in parameters]}]
        return await self._send(to, "template", content, None)


async def _json_or_none(response: aiohttp.ClientResponse) -> object:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


# -- the chat transport ----------------------------------------------------------------------

# WhatsApp tells nothing of a sender's language; their number's country is the best first
# guess (a keyword they use, e.g. "nouveau", corrects it). Longest calling codes first.
LANGUAGE_BY_CALLING_CODE = {
    **dict.fromkeys(("33", "212", "213", "216", "221", "223", "224", "225", "226", "227", "228",
                     "229", "235", "236", "241", "242", "243", "253", "257", "261", "269",
                     "509"), "fr"),
    **dict.fromkeys(("34", "51", "52", "53", "54", "56", "57", "58", "240", "502", "503", "504",
                     "505", "506", "507", "591", "593", "595", "598"), "es"),
    **dict.fromkeys(("55", "244", "238", "245", "258", "351"), "pt"),
}


def chat_key(wa_id: str) -> str:
    """A WhatsApp chat's id among every app's chats: the number in E.164 ("+22507000001"),
    never a Telegram id (those are bare integers)."""
    return wa_id if wa_id.startswith("+") else f"+{wa_id}"


def recipient(chat_id: str) -> str:
    """The Graph API's `to` for a chat id (the number without its "+")."""
    return chat_id.removeprefix("+")


def language_of_number(wa_id: str | None) -> str | None:
    """The likely language of a WhatsApp id (digits with the country calling code first)."""
    if not wa_id:
        return None
    wa_id = recipient(wa_id)
    return next((LANGUAGE_BY_CALLING_CODE[wa_id[:n]] for n in (3, 2)
                 if wa_id[:n] in LANGUAGE_BY_CALLING_CODE), None)


class WhatsAppChannel:
    """The chat core's transport for one WhatsApp number (receiving is the web app's webhook).

    Choices show as reply buttons up to three, as a list up to ten. Free-form messages go
    only within 24 hours of the person's last message: the core holds back the others, and
    with an approved template configured this transport sends that template instead."""

    name, id_prefix, app_name, content_type = "whatsapp", "wa", "WhatsApp", WHATSAPP_EVENT
    message_kinds = frozenset({"messages"})
    max_choices = MAX_ROWS
    handle = None  # WhatsApp has no bot user name: commands are never someone else's
    # The largest medium WhatsApp delivers (a document); by kind in DELIVERY_LIMITS.
    download_limit = DELIVERY_LIMITS["document"]

    def __init__(self, options: WhatsAppOptions, number: str = "") -> None:
        self.options = options
        self.graph = GraphClient(options)
        self.number = "".join(ch for ch in number if ch.isdigit())
        self.ready = asyncio.Event()

    @property
    def reply_window(self) -> timedelta | None:
        # With a template, every reply is tried: Meta's 131047 turns it into the template.
        return None if self.options.template else REPLY_WINDOW

    async def start(self) -> None:
        """Sending needs nothing set up: ready at once (a bad token shows on the first send)."""
        self.ready.set()

    async def close(self) -> None:
        await self.graph.close()

    async def send(self, reply: chat.ChatReply) -> str:
        try:
            return await self._send(reply)
        except WindowClosed:
            if not self.options.template:
                raise
            log.info("whatsapp: window closed for %s; sending template %s", reply.chat_id,
                     self.options.template)
            return await self.graph.send_template(recipient(reply.chat_id),
                                                  self.options.template,
                                                  self.options.template_language)

    async def _send(self, reply: chat.ChatReply) -> str:
        to = recipient(reply.chat_id)
        reply_to = reply.reply_to if isinstance(reply.reply_to, str) else None
        choices = list(reply.choices)[:MAX_ROWS]
        if not choices:
            return await self.graph.send_text(to, reply.text, reply_to)
        text = reply.text
        if len(text) > BODY_LIMIT:  # the whole text first, the buttons under a short one
            await self.graph.send_text(to, text, reply_to)
            text, reply_to = text.rstrip().rsplit("\n", 1)[-1][-BODY_LIMIT:], None
        if len(choices) <= MAX_BUTTONS:
            return await self.graph.send_buttons(
                to, text, [(c.label, c.data) for c in choices], reply_to)
        rows = [(*_row_title(c.label), c.data) for c in choices]
        return await self.graph.send_list(to, text, LIST_BUTTON,
                                          [(title, data, about) for title, about, data in rows],
                                          reply_to)

    async def answer_choice(self, choice_id: str, text: str) -> None:
        return None  # a tap on WhatsApp is a message of its own: the reply answers it

    async def download(self, file: chat.ChatFile, spool: Path) -> chat.Downloaded:
        limit = DELIVERY_LIMITS.get(file.kind, self.download_limit)
        info = await self.graph.media(file.file_id)
        if info.size is not None:
            file.file_size = info.size  # for the note when it is too big, and the record
        if info.size is not None and info.size > limit:
            raise MediaTooBig(f"{file.kind} of {info.size} bytes; WhatsApp delivers "
                              f"{limit // 1_000_000} MB", limit=limit)
        path = await self.graph.fetch(info, spool, limit)
        return chat.Downloaded(path, path.stat().st_size)

    def deep_link(self, payload: str) -> str | None:
        return wa_link(self.number, payload) if self.number else None

    def file_details(self, file: chat.ChatFile) -> dict:
        return {"whatsapp_media_id": file.file_id, "whatsapp_kind": file.kind}


REPLY_WINDOW = timedelta(hours=24)
LIST_BUTTON = "Choose"  # the list's button (the core's texts name the choice already)


def wa_link(number: str, text: str) -> str:
    """https://wa.me/<number>?text=<text>: opens a chat with the number, the text typed in."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(text)}"


def _row_title(label: str) -> tuple[str, str]:
    """A core label "REF · title" as a list row: the code as its title, the rest below."""
    head, sep, rest = label.partition(" · ")
    return (head, rest) if sep and len(head) <= ROW_TITLE else (label, "")
