"""Telegram transport (python-telegram-bot): updates made durable through accept, replies out.

TelegramChannel is the chat core's first ChatTransport (channels/chat.py)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.constants import FileSizeLimit, MessageLimit
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, ExtBot, Updater
from telegram.helpers import create_deep_linked_url
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from channels.chat import (
    ChatFailure,
    ChatFile,
    ChatReply,
    Choice,
    Downloaded,
    RateLimited,
    split_text,
)
from channels.chat import FileTooBig as ChatFileTooBig
from channels.contract import (
    TELEGRAM_UPDATE,
    Accept,
    AcceptMany,
    RawItem,
    Rejected,
    TryLater,
)

log = logging.getLogger(__name__)

CHANNEL = "telegram"  # RawItem.channel of updates, and the chat core's name for this app
ID_PREFIX = "tg"  # senders "tg:<user id>", contacts, message keys "tg:<chat id>:<message id>"
# Update fields that are a new message (not an edit), as the envelope's "kind" says.
MESSAGE_KINDS = frozenset({"message", "channel_post", "business_message"})
MAX_CHOICES = 4  # buttons under a reply ("which practice is this for?"): one per row
CLOUD_API = "https://api.telegram.org"
CLOUD_DOWNLOAD_LIMIT = int(FileSizeLimit.FILESIZE_DOWNLOAD)  # getFile refuses more (20 MB)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
POLL_TIMEOUT = 25  # seconds one getUpdates may wait for news
CONNECT_RETRY = (1, 60)  # first and longest pause between attempts to reach the Bot API


@dataclass(frozen=True)
class TelegramOptions:
    token: str
    api_url: str = ""  # root of a self-hosted Bot API server; empty: Telegram's cloud API
    local_mode: bool = False  # that server runs with --local: no download limit, local paths
    webhook_url: str = ""  # empty: long polling
    webhook_secret: str = ""
    poll_timeout: int = POLL_TIMEOUT

    @property
    def bot_id(self) -> str:
        return bot_id_of(self.token)

    @property
    def download_limit(self) -> int | None:
        return None if self.local_mode else CLOUD_DOWNLOAD_LIMIT


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str
    name: str

    def deep_link(self, payload: str) -> str:
        return create_deep_linked_url(self.username, payload)


class TelegramFailure(ChatFailure):
    """A Bot API call failed; `retry_after` is set when trying again later may work."""


class TelegramRateLimited(TelegramFailure, RateLimited):
    """The Bot API answered 429 even after the rate limiter waited and retried."""


class FileTooBig(TelegramFailure, ChatFileTooBig):
    """The Bot API will not hand this file to a bot (over 20 MB on the cloud API)."""


def bot_id_of(token: str) -> str:
    """A bot token is "<bot id>:<secret>"; the id alone is safe to log and store."""
    return token.partition(":")[0]


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def envelope(update: object) -> dict:
    """Where an update came from, read from its JSON without trusting its shape."""
    data = _dict(update)
    kind = next((k for k in data if k != "update_id"), "unknown")
    body = _dict(data.get(kind))
    message = _dict(body.get("message")) if kind == "callback_query" else body
    chat, user = _dict(message.get("chat") or body.get("chat")), _dict(body.get("from"))
    found = {
        "kind": kind,
        "chat_id": chat.get("id"),
        "user_id": user.get("id"),
        "language": user.get("language_code"),
        "message_id": message.get("message_id"),
        "media_group_id": message.get("media_group_id"),
    }
    return _plain(found)


def _plain(found: dict) -> dict:
    """Only strings and numbers kept; ids as strings, the message id as a number."""
    plain = (str, int)
    found = {k: v for k, v in found.items() if isinstance(v, plain) and not isinstance(v, bool)}
    for key in ("chat_id", "user_id", "media_group_id"):
        if key in found:
            found[key] = str(found[key])
    if not isinstance(found.get("message_id", 0), int):
        del found["message_id"]
    return found


def raw_item(raw: bytes, bot_id: str) -> RawItem:
    """One update as it came; its identity is the bot's id and the update_id."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        data = None
    return _raw_item(raw, data, bot_id)


def _raw_item(raw: bytes, data: object, bot_id: str) -> RawItem:
    update_id = _dict(data).get("update_id")
    external = f"{bot_id}:{update_id}" if type(update_id) is int else None
    return RawItem(CHANNEL, raw, TELEGRAM_UPDATE, external,
                   {"bot_id": bot_id, **envelope(data)})


async def receive_webhook(accept: Accept, bot_id: str, secret: str, given: str | None,
                          body: bytes) -> int:
    """One webhook POST, answered with an HTTP status only once the update is durable.

    Telegram retries anything but 2xx, so storage trouble answers 503 (it comes back) and a
    refusal for good answers 200 (it must not come back for ever)."""
    if not secret or not hmac.compare_digest((given or "").encode(), secret.encode()):
        return 403
    try:
        await accept(raw_item(body, bot_id))
    except TryLater:
        return 503
    except Rejected as exc:
        log.warning("telegram webhook: update refused for good: %s", exc)
    return 200


class _StoringBot(ExtBot):
    """An ExtBot whose getUpdates returns only once the batch it fetched is stored.

    The Updater acknowledges a batch by asking for the next one, so nothing is acknowledged
    before it is durable. Storing starts as soon as the batch's JSON is in, and runs while
    PTB turns that JSON into Update objects. The JSON stored is each update as it came. PTB
    parses a batch in one go: an update it cannot read would fail the whole batch and the
    Updater would fetch it for ever (the channel blocked); such an update reaches PTB as a
    bare update_id instead, and is stored as it came for intake to flag."""

    def __init__(self, *args, store: Callable[[list[RawItem]], Awaitable[None]],  # noqa: ANN002
                 **kwargs) -> None:  # noqa: ANN003
        super().__init__(*args, **kwargs)
        with self._unfrozen():
            self._store = store
            self._fetched: list = []
            self._storing: asyncio.Future | None = None

    async def get_updates(self, *args, **kwargs) -> tuple[Update, ...]:  # noqa: ANN002, ANN003
        self._fetched, self._storing = [], None
        try:
            updates = await super().get_updates(*args, **kwargs)
        except TelegramError:
            raise
        except Exception:  # one update PTB cannot read fails its batch: read them one by one
            updates = tuple(u for u in map(self._readable, self._fetched) if u is not None)
        finally:
            if self._storing is not None:  # whatever happened, the fetched batch is stored
                await self._storing
        return updates

    async def _post(self, endpoint: str, data: dict | None = None, **kwargs) -> object:  # noqa: ANN003
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list) and result:
            bot_id = bot_id_of(self.token)
            self._fetched = result
            self._storing = asyncio.ensure_future(self._store(
                [_raw_item(json.dumps(update, ensure_ascii=False).encode(), update, bot_id)
                 for update in result]))
        return result

    def _readable(self, data: object) -> Update | None:
        update_id = _dict(data).get("update_id")
        if type(update_id) is not int:  # stored all the same; PTB could not even count it
            log.error("telegram: getUpdates returned an update without update_id: %.300r", data)
            return None
        try:
            return Update.de_json(data, self)
        except Exception as exc:  # any parse error: PTB gets a bare update, we keep the JSON
            log.warning("telegram: update %s not readable by PTB (%s); stored as it came",
                        update_id, type(exc).__name__)
            return Update(update_id)


class _Stored(asyncio.Queue):
    """The Updater's queue. Each update is stored by the time the Updater puts it here, and
    processing reads the stored items, so nothing needs keeping."""

    async def put(self, item: object) -> None:
        return None

    def put_nowait(self, item: object) -> None:
        return None


class TelegramChannel:
    """Receives updates by long polling (or sets the webhook), and sends replies: the chat
    core's ChatTransport for Telegram."""

    name = CHANNEL
    id_prefix = ID_PREFIX
    app_name = "Telegram"
    content_type = TELEGRAM_UPDATE
    message_kinds = MESSAGE_KINDS
    max_choices = MAX_CHOICES
    reply_window = None  # a bot may write to a chat whenever it likes

    def __init__(self, options: TelegramOptions, accept_many: AcceptMany) -> None:
        self.options = options
        self._accept_many = accept_many
        self._inflight: set[asyncio.Task] = set()
        self._updater: Updater | None = None
        self._connector: asyncio.Task | None = None
        self.identity: BotIdentity | None = None
        self.ready = asyncio.Event()
        self.bot = _make_bot(options, self._store)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect in the background, so that mail keeps flowing while Telegram is away."""
        self._connector = asyncio.create_task(self._connect(), name="telegram-connect")

    async def _connect(self) -> None:
        pause = CONNECT_RETRY[0]
        while True:
            try:
                await self._start_receiving()
                self.ready.set()
                return
            except InvalidToken:
                # PTB's message repeats the token; say which bot instead.
                log.error("telegram: the Bot API refused the token of bot %s", self.options.bot_id)
                return
            except TelegramError as exc:
                log.warning("telegram: Bot API unreachable (%s); retrying in %s s", exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, CONNECT_RETRY[1])

    async def _start_receiving(self) -> None:
        await self.bot.initialize()
        me = self.bot.bot
        self.identity = BotIdentity(me.id, me.username, me.first_name)
        if self.options.webhook_url:
            await self.bot.set_webhook(self.options.webhook_url,
                                       secret_token=self.options.webhook_secret,
                                       allowed_updates=Update.ALL_TYPES)
            log.info("telegram: @%s receives by webhook", me.username)
            return
        self._updater = Updater(self.bot, _Stored())
        await self._updater.initialize()
        await self._updater.start_polling(timeout=self.options.poll_timeout,
                                          allowed_updates=Update.ALL_TYPES,
                                          error_callback=_polling_error)
        log.info("telegram: @%s receives by long polling", me.username)

    async def stop_receiving(self) -> None:
        """Stop fetching; the last fetched updates are stored, then acknowledged."""
        if self._connector is not None:
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        if self._updater is not None and self._updater.running:
            await self._updater.stop()
            await self._updater.shutdown()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def close(self) -> None:
        await self.stop_receiving()
        await self.bot.shutdown()  # a no-op when it never connected

    # -- receiving ------------------------------------------------------------------------

    async def _store(self, items: list[RawItem]) -> None:
        # Shielded: stopping the Updater cancels its fetch; a half-done accept must finish.
        task = asyncio.ensure_future(self._accept_many(items))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        try:
            await asyncio.shield(task)
        except TryLater as exc:
            # Not stored, so not acknowledged: PTB's polling loop retries this TelegramError
            # with back-off and fetches the same updates again from the unchanged offset.
            raise NetworkError(f"{len(items)} update(s) not stored: {exc}") from exc
        except Rejected as exc:
            log.warning("telegram: %d update(s) refused for good: %s", len(items), exc)

    # -- sending --------------------------------------------------------------------------

    @property
    def handle(self) -> str | None:
        """The bot's @username (without @), once connected."""
        return self.identity.username if self.identity else None

    @property
    def download_limit(self) -> int | None:
        return self.options.download_limit

    def deep_link(self, payload: str) -> str | None:
        """https://t.me/<bot>?start=<payload>, once the bot's name is known."""
        return self.identity.deep_link(payload) if self.identity else None

    def file_details(self, file: ChatFile) -> dict:
        return {"telegram_file_id": file.file_id, "telegram_kind": file.kind,
                "bot_id": self.options.bot_id}

    async def send(self, reply: ChatReply) -> int:
        """Send text (split at Telegram's limit); returns the last message's id."""
        markup = _keyboard(reply.choices)
        parts = split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH)
        sent_id = 0
        for number, part in enumerate(parts, 1):
            last = number == len(parts)
            params = ReplyParameters(reply.reply_to, allow_sending_without_reply=True) if (
                reply.reply_to and number == 1) else None
            message = await self._call(self.bot.send_message(
                int(reply.chat_id), part, reply_parameters=params,
                reply_markup=markup if last else None))
            sent_id = message.message_id
        return sent_id

    async def answer_choice(self, choice_id: str, text: str) -> None:
        await self._call(self.bot.answer_callback_query(choice_id, text[:200]))

    async def download(self, file: ChatFile, spool: Path) -> Downloaded:
        """Fetch one file into the spool folder; FileTooBig when the Bot API won't give it."""
        limit = self.download_limit
        tg_file = await self._call(self.bot.get_file(file.file_id, read_timeout=30))
        if limit is not None and tg_file.file_size and tg_file.file_size > limit:
            raise FileTooBig(f"{tg_file.file_size} bytes")
        spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=spool, prefix="tg-")
        os.close(fd)
        target = Path(name)
        try:
            await self._fetch_into(tg_file, target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return Downloaded(target, target.stat().st_size)

    async def _fetch_into(self, tg_file: object, target: Path) -> None:
        local = tg_file.file_path and Path(tg_file.file_path).is_absolute()
        if self.options.local_mode and local:
            # A --local server hands out a path on a shared disk: copy it off the loop.
            await asyncio.to_thread(shutil.copyfile, tg_file.file_path, target)
        else:
            data = await self._call(tg_file.download_as_bytearray(read_timeout=120))
            await asyncio.to_thread(target.write_bytes, data)

    async def _call(self, call: Awaitable) -> object:
        """Run a Bot API call; its errors become TelegramFailure (the one place they map)."""
        try:
            return await call
        except RetryAfter as exc:  # the rate limiter already waited and retried
            raise TelegramRateLimited(str(exc), _seconds(exc)) from exc
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooBig(exc.message) from exc
            raise TelegramFailure(exc.message) from exc
        except Forbidden as exc:  # blocked by the user, removed from the group
            raise TelegramFailure(exc.message) from exc
        except NetworkError as exc:  # includes TimedOut
            raise TelegramFailure(str(exc), retry_after=5.0) from exc
        except TelegramError as exc:
            raise TelegramFailure(str(exc)) from exc


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # an int today, a timedelta in PTB's next major version
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup | None:
    """One button per row, each sending its data back as a callback query."""
    if not choices:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(c.label, callback_data=c.data)] for c in choices])


def _polling_error(exc: TelegramError) -> None:
    # A plain function: PTB refuses a coroutine here.
    log.warning("telegram: polling failed, retrying: %s", exc)


def _make_bot(options: TelegramOptions,
              store: Callable[[list[RawItem]], Awaitable[None]] | None = None) -> ExtBot:
    root = (options.api_url or CLOUD_API).rstrip("/")
    return _StoringBot(
        options.token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        local_mode=options.local_mode,
        # Replies and downloads share a pool; getUpdates has its own connection.
        request=HTTPXRequest(connection_pool_size=16, read_timeout=20, pool_timeout=10),
        get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=10),
        rate_limiter=AIORateLimiter(max_retries=3),
        store=store or _nowhere,
    )


async def _nowhere(items: list[RawItem]) -> None:
    raise RuntimeError("this bot does not receive updates")


async def identify(options: TelegramOptions) -> BotIdentity:
    """Ask the Bot API who the token belongs to (getMe); TelegramFailure if it won't say."""
    bot = _make_bot(options)
    try:
        async with bot:
            me = bot.bot
            return BotIdentity(me.id, me.username, me.first_name)
    except InvalidToken as exc:
        raise TelegramFailure(f"the Bot API refused the token of bot {options.bot_id}") from exc
    except TelegramError as exc:
        raise TelegramFailure(f"the Bot API did not answer: {exc}") from exc
