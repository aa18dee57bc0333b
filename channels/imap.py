"""IMAP channel (imapclient, one thread per mailbox): fetch with BODY.PEEK[], accept, then mark."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import date, datetime

from imapclient import IMAPClient

from channels.contract import EMAIL, Accept, AcceptMany, RawItem, Rejected, TryLater
from channels.imap_folder import (
    NETWORK_ERRORS,
    Folder,
    ImapError,
    MailboxSpec,
    chunks,
    error_text,
    is_loopback,
    open_folder,
    parse_mailbox_url,
    read_secret,
)

__all__ = ["NETWORK_ERRORS", "ImapError", "MailboxSpec", "parse_mailbox_url", "read_secret"]

log = logging.getLogger(__name__)

BACKOFF_MIN, BACKOFF_MAX = 1.0, 300.0  # seconds between reconnects / retries after trouble
IDLE_SLICE = 1.0  # an IDLE wait looks at the stop event this often
SKIP_AFTER = 3  # accept failing on one message for a non-storage reason: set it aside after this
HOOK_SECONDS = 900  # longest wait for accept / a checkpoint on the event loop
SEEN = b"\\Seen"
REJECTED_KEYWORD = "$IntakeRejected"
FAILED_KEYWORD = "$IntakeFailed"

LoadCheckpoint = Callable[[str], Awaitable[dict]]
SaveCheckpoint = Callable[[str, dict], Awaitable[None]]


class Stall(Exception):
    """accept asked us to try later: stop the batch, leave the message, back off."""


@dataclass(frozen=True)
class ImapOptions:
    """What to do with a message once accepted, and how often to look for new ones."""

    keyword: str = "$IntakeAccepted"
    move_to: str = ""  # empty: flag \\Seen + keyword; else MOVE there as well
    batch: int = 50
    poll_seconds: float = 60
    idle_seconds: float = 540


# -- from the IMAP thread to intake's event loop ---------------------------------------------


class Bridge:
    """Runs the async callables intake handed us on its loop, and waits here for the answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, accept: Accept,
                 load_checkpoint: LoadCheckpoint, save_checkpoint: SaveCheckpoint,
                 accept_many: AcceptMany | None = None) -> None:
        self.loop = loop
        self._accept = accept
        self._accept_many = accept_many
        self._load = load_checkpoint
        self._save = save_checkpoint

    def _call(self, coroutine: Awaitable):  # noqa: ANN202 - whatever the coroutine returns
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(HOOK_SECONDS)
        except (TimeoutError, CancelledError) as exc:
            future.cancel()
            raise TryLater(f"intake did not answer ({type(exc).__name__})") from exc

    def accept(self, item: RawItem):  # noqa: ANN201 - an Accepted
        return self._call(self._accept(item))

    @property
    def batches(self) -> bool:
        return self._accept_many is not None

    def accept_many(self, items: list[RawItem]) -> list:
        """All durable in one commit, or none (it raises)."""
        return self._call(self._accept_many(items))

    def load(self, name: str) -> dict:
        return self._call(self._load(name))

    def save(self, name: str, value: dict) -> None:
        self._call(self._save(name, value))


# -- fetch, accept, mark ---------------------------------------------------------------------


@dataclass
class Tally:
    """What one run over some UIDs did; `last_uid`: every UID up to it is done with."""

    new: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0
    last_uid: int = 0
    stalled: str = ""
    set_aside: list[int] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.new += other.new
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.failed += other.failed
        self.last_uid = max(self.last_uid, other.last_uid)
        self.set_aside += other.set_aside


class Ingester:
    """Fetches, accepts and marks messages of a folder, in UID order, one batch at a time."""

    def __init__(self, bridge: Bridge, options: ImapOptions, stop: threading.Event) -> None:
        self.bridge = bridge
        self.options = options
        self.stop = stop
        self.failures: dict[tuple[int, int], int] = {}
        accepted = [SEEN, options.keyword.encode()]
        self.flags = {"new": accepted, "duplicate": accepted,
                      "rejected": [REJECTED_KEYWORD.encode()], "failed": [FAILED_KEYWORD.encode()]}

    def batch(self, folder: Folder, uids: list[int]) -> Tally:
        """Accept the messages in groups, then mark those kept; a TryLater stops there."""
        tally = Tally()
        done: dict[str, list[int]] = {outcome: [] for outcome in self.flags}
        group: list[tuple[int, RawItem]] = []
        try:
            for uid, raw, when in folder.bodies(uids):
                group.append((uid, self._item(folder, uid, raw, when)))
                if _full(group) or self.stop.is_set():
                    if not self._accept_group(folder, group, done, tally) or self.stop.is_set():
                        return tally
                    group = []
            if group and not self._accept_group(folder, group, done, tally):
                return tally
            tally.last_uid = max(uids)  # UIDs that vanished meanwhile are done with too
            return tally
        finally:
            # Marks only what accept has returned for, even when the next message failed.
            tally.set_aside = done["failed"]
            self._mark(folder, done)

    def _accept_group(self, folder: Folder, group: list[tuple[int, RawItem]],
                      done: dict[str, list[int]], tally: Tally) -> bool:
        """One commit for the group; if it fails for another reason than storage, one by
        one, so a message that breaks accept is found and set aside. False: stalled."""
        outcomes = None
        try:
            if self.bridge.batches and len(group) > 1:
                accepted = self.bridge.accept_many([item for _uid, item in group])
                outcomes = ["duplicate" if a.duplicate else "new" for a in accepted]
        except TryLater as exc:
            tally.stalled = f"UID {group[0][0]}: {exc}"
            return False
        except Exception:  # noqa: S110 - isolate the message that breaks it, one by one below
            log.warning("%s: a batch of %d failed; accepting one by one", folder.spec.name,
                        len(group))
        for index, (uid, item) in enumerate(group):
            try:
                outcome = outcomes[index] if outcomes else self._accept(folder, uid, item)
            except Stall as exc:
                tally.stalled = str(exc)
                return False
            done[outcome].append(uid)
            setattr(tally, outcome, getattr(tally, outcome) + 1)
            tally.last_uid = uid
        return True

    def _mark(self, folder: Folder, done: dict[str, list[int]]) -> None:
        for outcome, uids in done.items():
            move_to = self.options.move_to if outcome in ("new", "duplicate") else ""
            folder.mark(uids, self.flags[outcome], move_to)

    @staticmethod
    def _item(folder: Folder, uid: int, raw: bytes, when: datetime | None) -> RawItem:
        name = folder.spec.name
        return RawItem(
            channel="imap", raw=raw, content_type=EMAIL,
            external_id=f"{name}:{folder.uidvalidity}:{uid}",
            source={"mailbox": name, "folder": folder.spec.folder, "uid": uid,
                    "uidvalidity": folder.uidvalidity,
                    "internaldate": when.isoformat() if when else None},
        )

    def _accept(self, folder: Folder, uid: int, item: RawItem) -> str:
        name = folder.spec.name
        try:
            accepted = self.bridge.accept(item)
        except Rejected as exc:
            log.warning("%s: UID %s refused for good (%s); flagged %s", name, uid, exc,
                        REJECTED_KEYWORD)
            return "rejected"
        except TryLater as exc:
            raise Stall(f"UID {uid}: {exc}") from exc
        except Exception as exc:  # not storage trouble: a bug that this message triggers
            return self._failed(folder, uid, exc)
        return "duplicate" if accepted.duplicate else "new"

    def _failed(self, folder: Folder, uid: int, exc: Exception) -> str:
        key = (folder.uidvalidity, uid)
        count = self.failures[key] = self.failures.get(key, 0) + 1
        log.error("%s: accept failed on UID %s (%d/%d)", folder.spec.name, uid, count,
                  SKIP_AFTER, exc_info=exc)
        if count < SKIP_AFTER:
            raise Stall(f"UID {uid}: accept failed: {type(exc).__name__}") from exc
        # Retrying for ever would hold every later message back (a poison message).
        log.error("%s: UID %s set aside, flagged %s and left on the server; after the fix, "
                  "`intake imap backfill` reads it again", folder.spec.name, uid, FAILED_KEYWORD)
        return "failed"


GROUP_MESSAGES, GROUP_BYTES = 50, 32_000_000  # one accept commit for up to this much


def _full(group: list[tuple[int, RawItem]]) -> bool:
    return len(group) >= GROUP_MESSAGES or sum(len(i.raw) for _u, i in group) >= GROUP_BYTES


def backoff(failures: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, failures - 1))


# -- following a mailbox ---------------------------------------------------------------------


class MailboxPoller:
    """Follows one mailbox in its own thread until stopped: sync, IDLE or poll, reconnect."""

    def __init__(self, spec: MailboxSpec, bridge: Bridge, options: ImapOptions) -> None:
        self.spec = spec
        self.bridge = bridge
        self.options = options
        self.stop_event = threading.Event()
        self.ingester = Ingester(bridge, options, self.stop_event)
        self.thread = threading.Thread(target=self.run, name=f"imap:{spec.name}", daemon=True)
        self.state = "starting"  # starting | syncing | idle | polling | waiting | stopped
        self.last_error = ""
        self.failures = 0
        self._client: IMAPClient | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()

    def abort(self) -> None:
        """Unblock a read that stop() could not interrupt (a server gone silent)."""
        client = self._client
        if client is not None:
            try:
                client.socket().shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("%s: socket already closed", self.spec.name, exc_info=True)

    def run(self) -> None:
        if self.spec.security == "plain" and not is_loopback(self.spec.host):
            log.warning("%s: no TLS: the password crosses the network in clear", self.spec.name)
        elif self.spec.security != "plain" and not self.spec.tls_verify:
            log.warning("%s: TLS certificate not checked (tls_verify off)", self.spec.name)
        while not self.stop_event.is_set():
            try:
                self._session()
            except Stall as exc:
                self._trouble(f"accept asked to try later: {exc}")
            except ImapError as exc:
                self._trouble(str(exc))
            except NETWORK_ERRORS as exc:
                self._trouble(f"{type(exc).__name__}: {error_text(exc, self.spec)}")
            except Exception:  # a bug must not end this mailbox's thread for good
                log.exception("%s: unexpected error", self.spec.name)
                self._trouble("unexpected error (logged)")
        self.state = "stopped"

    def _trouble(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        delay = backoff(self.failures)
        self.state = "waiting"
        log.error("%s: %s; retrying in %.0f s", self.spec.name, reason, delay)
        self.stop_event.wait(delay)

    def _session(self) -> None:
        with open_folder(self.spec) as folder:
            self._client = folder.client
            folder.ensure(self.options.move_to)
            try:
                while not self.stop_event.is_set():
                    self.state = "syncing"
                    self._sync(folder)
                    self.failures = 0
                    self.last_error = ""
                    self._wait(folder)
            finally:
                self._client = None

    def _sync(self, folder: Folder) -> None:
        """Accept every message above the checkpoint; advance it past what was done with."""
        name = self.spec.name
        folder.select()
        mark = self.bridge.load(name)
        last = int(mark.get("last_uid", 0))
        if mark.get("uidvalidity") != folder.uidvalidity:
            if mark:
                log.warning("%s: UIDVALIDITY changed (%s → %s): reading the whole folder again; "
                            "intake drops what it already has", name, mark.get("uidvalidity"),
                            folder.uidvalidity)
            last = 0
            mark = {"uidvalidity": folder.uidvalidity, "last_uid": 0}
            self.bridge.save(name, mark)
        for window in folder.uid_windows(last):
            for batch in chunks(window, self.options.batch):
                tally = self.ingester.batch(folder, batch)
                if tally.last_uid > last or tally.set_aside:
                    last = max(last, tally.last_uid)
                    mark = _next_mark(mark, last, tally.set_aside)
                    self.bridge.save(name, mark)
                if tally.stalled:
                    raise Stall(tally.stalled)
                if self.stop_event.is_set():
                    return

    def _wait(self, folder: Folder) -> None:
        if folder.can_idle:
            self.state = "idle"
            self._idle(folder.client, min(self.options.poll_seconds, self.options.idle_seconds))
        else:
            self.state = "polling"
            self.stop_event.wait(self.options.poll_seconds)
            folder.client.noop()

    def _idle(self, client: IMAPClient, seconds: float) -> None:
        """IDLE until new mail, the poll/re-IDLE interval, or stop (RFC 2177: < 29 min)."""
        client.idle()
        deadline = _now() + seconds
        try:
            while not self.stop_event.is_set() and (left := deadline - _now()) > 0:
                wait = min(IDLE_SLICE, left)
                started = _now()
                responses = client.idle_check(timeout=wait)
                if _news(responses):
                    return
                # imapclient swallows EOF and returns nothing at once; leave IDLE and let
                # DONE find out whether the link is still there.
                if not responses and _now() - started < wait / 2:
                    return
        finally:
            client.idle_done()


def _news(responses: list) -> bool:
    """New mail, or a warning worth a look (Dovecot says NO when the folder is deleted)."""
    for response in responses:
        if response and response[0] == b"BYE":
            raise ConnectionError(f"server said BYE: {response[1:]!r}")
        if response and response[0] in (b"NO", b"BAD"):
            log.warning("IMAP server warning during IDLE: %r", response)
            return True
        if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
            return True
    return False


def _now() -> float:
    return time.monotonic()


def _next_mark(mark: dict, last: int, set_aside: list[int]) -> dict:
    value = dict(mark, last_uid=last)
    if set_aside:
        value["set_aside"] = (list(mark.get("set_aside", [])) + set_aside)[-100:]
    return value


# -- one-off reads: check and backfill -------------------------------------------------------


def probe(spec: MailboxSpec, move_to: str = "") -> dict:
    """Connect, log in and EXAMINE the folder (changing nothing): what the server says."""
    with open_folder(spec, readonly=True) as folder:
        found = {
            "capabilities": sorted(c.decode() for c in folder.capabilities),
            "uidvalidity": folder.uidvalidity,
            "messages": folder.exists,
            "uidnext": folder.uidnext,
            "idle": folder.can_idle,
            "keywords": folder.keywords,
        }
        if move_to:
            found["move_to_exists"] = bool(folder.client.folder_exists(move_to))
        return found


Progress = Callable[[int, int], None]  # (messages done, messages in all)


def backfill(spec: MailboxSpec, bridge: Bridge, options: ImapOptions, since: date | None = None,
             progress: Progress | None = None, stop: threading.Event | None = None) -> Tally:
    """Hand every message of the folder (read or not; received SINCE `since`) to accept.

    What intake already has comes back as a duplicate; the checkpoint is left alone."""
    stop = stop or threading.Event()
    ingester = Ingester(bridge, options, stop)
    total = Tally()
    with open_folder(spec) as folder:
        folder.ensure(options.move_to)
        uids = [uid for window in folder.uid_windows(0, ["SINCE", since] if since else None)
                for uid in window]
        done = 0
        if progress:
            progress(done, len(uids))
        for batch in chunks(uids, options.batch):
            total.add(_batch_with_retries(ingester, folder, batch, stop))
            done += len(batch)
            if progress:
                progress(done, len(uids))
            if stop.is_set():
                break
    return total


def _batch_with_retries(ingester: Ingester, folder: Folder, uids: list[int],
                        stop: threading.Event, tries: int = 6) -> Tally:
    total = Tally()
    reason = ""
    for attempt in range(1, tries + 1):
        tally = ingester.batch(folder, uids)
        total.add(tally)
        if not tally.stalled:
            return total
        reason = tally.stalled
        uids = [uid for uid in uids if uid > tally.last_uid]
        log.warning("%s: %s; retrying in %.0f s", folder.spec.name, reason, backoff(attempt))
        if stop.wait(backoff(attempt)):
            break
    raise Stall(f"gave up after {attempt} tries: {reason}")
