"""IMAP connection and folder for the IMAP channel: mailbox URLs, TLS, login, bounded UID
searches, BODY.PEEK fetches, flagging and moving."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

log = logging.getLogger(__name__)

UID_WINDOW = 5_000  # UIDs per SEARCH: each answer stays far below imaplib's 1 MB line limit
MAX_UID = 4_294_967_295  # "UID MAX:*" names the highest UID in use (RFC 3501 §6.4.8)
FETCH_BYTES = 25_000_000  # bodies fetched in one command up to this size; bigger ones alone
TIMEOUT = SocketTimeout(connect=15, read=120)  # never None: a half-open TCP link hangs forever
DELETED = b"\\Deleted"

# Connection-level trouble (imaplib error/abort, socket errors and timeouts, TLS): reconnect.
NETWORK_ERRORS = (IMAPClientError, OSError)


class ImapError(Exception):
    """A mailbox cannot be used as configured: bad URL, refused login, missing folder, TLS."""


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxSpec:
    """One mailbox to follow; `name` (no secret in it) identifies it in logs and checkpoints."""

    host: str
    port: int
    user: str
    folder: str = "INBOX"
    security: str = "tls"  # "tls" (imaps://), "starttls" (imap://), "plain" (imap://…?plain=1)
    tls_verify: bool = True
    password: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        scheme = "imaps" if self.security == "tls" else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


QUERY_KEYS = {"starttls", "plain", "tls_verify", "password_file"}


def parse_mailbox_url(url: str, password: str = "", tls_verify: bool = True) -> MailboxSpec:
    """imaps://user@host[:993][/Folder] (TLS), imap://…[?starttls=1] (STARTTLS, required),
    imap://…?plain=1 (no encryption). `?password_file=PATH` and `?tls_verify=0` per mailbox."""
    parts = urlsplit(url.strip())
    shown = f"{parts.scheme}://{parts.hostname}{parts.path}"  # never echo a password back
    port = _checked_port(parts, shown)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        raise ImapError(f"{shown}: unknown option(s) {', '.join(unknown)}")
    security = _security(parts.scheme, query, shown)
    if "password_file" in query:
        password = read_secret(Path(query["password_file"]))
    return MailboxSpec(
        host=parts.hostname, port=port or (993 if security == "tls" else 143),
        user=unquote(parts.username), folder=unquote(parts.path.lstrip("/")) or "INBOX",
        security=security, password=password,
        tls_verify=_flag(query["tls_verify"]) if "tls_verify" in query else tls_verify,
    )


def _checked_port(parts: SplitResult, shown: str) -> int | None:
    """The URL's port, after the checks that need no network: scheme, user, host, no password."""
    try:
        port = parts.port
    except ValueError:
        raise ImapError(f"{shown}: bad port") from None
    if parts.scheme not in ("imap", "imaps"):
        raise ImapError(f"{shown}: the URL must start with imaps:// or imap://")
    if parts.password is not None:
        raise ImapError(f"{shown}: no password in the URL; use INTAKE_IMAP_PASSWORD(_FILE) "
                        "or ?password_file=")
    if not parts.hostname or not parts.username:
        raise ImapError(f"{shown}: the URL needs a user and a host (imaps://user@host/INBOX)")
    return port


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _security(scheme: str, query: dict[str, str], shown: str) -> str:
    plain = _flag(query.get("plain", "0"))
    starttls = _flag(query.get("starttls", "1"))
    if scheme == "imaps":
        if plain or "starttls" in query:
            raise ImapError(f"{shown}: imaps:// is TLS from the start; starttls/plain do not apply")
        return "tls"
    if plain:
        return "plain"
    if not starttls:
        raise ImapError(f"{shown}: starttls=0 would send the password unencrypted; "
                        "say ?plain=1 if that is really meant")
    return "starttls"


def read_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImapError(f"cannot read password file {path}: {exc.strerror}") from None


def tls_context(verify: bool) -> ssl.SSLContext:
    """System trust store (SSL_CERT_FILE adds a private CA); no checks only when asked."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- connection ------------------------------------------------------------------------------


def error_text(exc: BaseException, spec: MailboxSpec) -> str:
    """An error's text for logs, with the password blotted out should a server echo it."""
    text = str(exc) or type(exc).__name__
    return text.replace(spec.password, "***") if spec.password else text


def _open(spec: MailboxSpec) -> IMAPClient:
    if spec.security == "tls":
        return IMAPClient(spec.host, spec.port, ssl=True, timeout=TIMEOUT,
                          ssl_context=tls_context(spec.tls_verify))
    client = IMAPClient(spec.host, spec.port, ssl=False, timeout=TIMEOUT)
    if spec.security == "starttls":
        try:
            client.starttls(tls_context(spec.tls_verify))
        except CapabilityError:
            close(client)
            raise ImapError(f"{spec.name}: the server offers no STARTTLS; use imaps:// or, on a "
                            "trusted network only, ?plain=1") from None
        except BaseException:
            close(client)
            raise
    return client


def connect(spec: MailboxSpec) -> IMAPClient:
    """Connect, secure and log in; ImapError says plainly what went wrong, without secrets."""
    try:
        client = _open(spec)
    except ssl.SSLCertVerificationError as exc:
        raise ImapError(f"{spec.name}: TLS certificate not trusted ({exc.verify_message}); add "
                        "its CA with SSL_CERT_FILE, or INTAKE_IMAP_TLS_VERIFY=0 for tests only"
                        ) from None
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"{spec.name}: cannot connect: {error_text(exc, spec)}") from None
    try:
        client.login(spec.user, spec.password)
    except LoginError as exc:
        close(client)
        raise ImapError(f"{spec.name}: login refused: {error_text(exc, spec)}") from None
    except BaseException:
        close(client)
        raise
    return client


def close(client: IMAPClient) -> None:
    """Log out if the link still works, else just drop the socket."""
    try:
        client.logout()
    except (IMAPClientError, OSError):
        log.debug("IMAP logout failed; closing the socket", exc_info=True)
        try:
            client.shutdown()
        except OSError:
            log.debug("IMAP socket already closed", exc_info=True)


class Folder:
    """A logged-in connection with the mailbox's folder selected."""

    def __init__(self, client: IMAPClient, spec: MailboxSpec, readonly: bool = False) -> None:
        self.client = client
        self.spec = spec
        self.readonly = readonly
        self.capabilities = {c.upper() for c in client.capabilities()}
        self.select()

    def select(self) -> None:
        """(Re)open the folder. Done before every sync: a folder deleted and made again under
        a live session can leave the server showing the old one (Dovecot does, even to STATUS),
        and a fresh SELECT is what reveals the new UIDVALIDITY."""
        try:
            info = self.client.select_folder(self.spec.folder, readonly=self.readonly)
        except IMAPClientError as exc:
            raise ImapError(f"{self.spec.name}: cannot open folder {self.spec.folder!r}: "
                            f"{error_text(exc, self.spec)}") from None
        validity = info.get(b"UIDVALIDITY")
        if validity is None:  # required by RFC 3501, yet a few servers leave it out of SELECT
            status = self.client.folder_status(self.spec.folder, ["UIDVALIDITY"])
            validity = status[b"UIDVALIDITY"]
        self.uidvalidity = int(validity)
        self.exists = int(info.get(b"EXISTS", 0))
        self.uidnext = int(info.get(b"UIDNEXT", 0))
        # \* among PERMANENTFLAGS: the server keeps keywords of our own, like $IntakeAccepted.
        self.keywords = b"\\*" in info.get(b"PERMANENTFLAGS", ())

    @property
    def can_idle(self) -> bool:
        return b"IDLE" in self.capabilities

    def max_uid(self) -> int:
        return max(self.client.search(["UID", f"{MAX_UID}:*"]), default=0)

    def uid_windows(self, after: int, criteria: list | None = None) -> Iterator[list[int]]:
        """UIDs above `after` (matching `criteria`), ascending, one bounded SEARCH at a time."""
        top = self.max_uid()
        low = after + 1
        while low <= top:
            high = min(low + UID_WINDOW - 1, top)
            found = self.client.search(["UID", f"{low}:{high}", *(criteria or [])])
            # "n:m" may name a UID outside the range (RFC 3501 §6.4.8): filter here.
            uids = sorted(uid for uid in found if low <= uid <= high)
            if uids:
                yield uids
            low = high + 1

    def bodies(self, uids: list[int]) -> Iterator[tuple[int, bytes, datetime | None]]:
        """(uid, raw bytes, INTERNALDATE) in UID order, without setting \\Seen (BODY.PEEK)."""
        sizes = self.client.fetch(uids, ["RFC822.SIZE"])
        present = [uid for uid in uids if uid in sizes]
        for group in _groups(present, {u: int(sizes[u].get(b"RFC822.SIZE", 0)) for u in present}):
            data = self.client.fetch(group, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in group:
                entry = data.get(uid, {})
                raw = entry.get(b"BODY[]")  # the answer's key is BODY[], not BODY.PEEK[]
                if raw is None:
                    log.warning("%s: UID %s vanished before it was read", self.spec.name, uid)
                    continue
                yield uid, bytes(raw), entry.get(b"INTERNALDATE")

    def ensure(self, name: str) -> None:
        """Create the folder accepted mail is moved to, if the server lacks it."""
        if name and not self.client.folder_exists(name):
            try:
                self.client.create_folder(name)
            except IMAPClientError as exc:
                raise ImapError(f"{self.spec.name}: cannot create folder {name!r} to move "
                                f"accepted mail to: {error_text(exc, self.spec)}") from None
            log.info("%s: created folder %r for accepted mail", self.spec.name, name)

    def mark(self, uids: list[int], flags: list[bytes], move_to: str = "") -> None:
        """Flag (and move) messages that intake has kept. Nothing is ever deleted outright."""
        if not uids:
            return
        wanted = [f for f in flags if f.startswith(b"\\") or self.keywords]
        if wanted:
            self.client.add_flags(uids, wanted, silent=True)
        if move_to:
            self._move(uids, move_to)

    def _move(self, uids: list[int], folder: str) -> None:
        if b"MOVE" in self.capabilities:
            self.client.move(uids, folder)
        elif b"UIDPLUS" in self.capabilities:
            self.client.copy(uids, folder)
            self.client.add_flags(uids, [DELETED], silent=True)
            self.client.uid_expunge(uids)  # these UIDs only; plain EXPUNGE would take others'
        else:
            self.client.copy(uids, folder)
            log.warning("%s: no MOVE or UIDPLUS: copied to %s and left in place",
                        self.spec.name, folder)


def _groups(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    group: list[int] = []
    total = 0
    for uid in uids:
        if group and total + sizes[uid] > FETCH_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += sizes[uid]
    if group:
        yield group


def chunks(uids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield uids[start:start + size]


@contextmanager
def open_folder(spec: MailboxSpec, readonly: bool = False) -> Iterator[Folder]:
    client = connect(spec)
    try:
        yield Folder(client, spec, readonly)
    finally:
        close(client)
