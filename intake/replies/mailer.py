"""Outbound mail through the configured relay (aiosmtplib): STARTTLS, implicit TLS or plain."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import aiosmtplib

from intake.config import ConfigError, Settings

SEND_TIMEOUT = 60.0  # seconds for the whole conversation with the relay
_AUTH_CODES = {530, 534, 535, 538}  # our credentials, not the message: worth another try


@dataclass(frozen=True)
class Relay:
    """Where and how we hand mail over; the password never appears in repr()."""

    host: str
    port: int
    username: str | None
    use_tls: bool  # smtps:// (implicit TLS)
    start_tls: bool  # smtp:// with credentials, on 587, or ?starttls=yes
    local_hostname: str  # our EHLO name; never looked up by DNS
    password: str | None = None

    def __repr__(self) -> str:
        return f"Relay({self.host}:{self.port}, user={self.username}, tls={self.use_tls}, " \
               f"starttls={self.start_tls})"


class SendFailure(Exception):
    """The relay did not take a message; `permanent` when trying again cannot help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _password(settings: Settings, in_url: str | None) -> str | None:
    if settings.smtp_relay_password_file:
        try:
            return Path(settings.smtp_relay_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"INTAKE_SMTP_RELAY_PASSWORD_FILE: cannot read "
                              f"{settings.smtp_relay_password_file}: {exc.strerror}") from None
    return settings.smtp_relay_password.get_secret_value() or in_url or None


def _start_tls(scheme: str, port: int, username: str | None, query: dict) -> bool:
    choice = (query.get("starttls") or [""])[0].lower()
    if choice in ("no", "off", "false", "0"):
        if username:  # a password is never sent in the clear
            raise ConfigError("INTAKE_SMTP_RELAY_URL: starttls=no with a user name would send "
                              "the password in the clear")
        return False
    if choice in ("yes", "on", "true", "1"):
        return True
    return scheme == "smtp" and (bool(username) or port == 587)


def parse_relay(settings: Settings) -> Relay:
    """The relay of INTAKE_SMTP_RELAY_URL: smtp://[user@]host[:port] (STARTTLS when there is
    a user or port 587, plain for a local relay), smtps://[user@]host[:465]."""
    parts, port, username = _relay_address(settings.smtp_relay_url)
    password = _password(settings, unquote(parts.password) if parts.password else None)
    if username and not password:
        raise ConfigError("INTAKE_SMTP_RELAY_URL: names a user but no password is set "
                          "(INTAKE_SMTP_RELAY_PASSWORD or INTAKE_SMTP_RELAY_PASSWORD_FILE)")
    return Relay(
        host=parts.hostname, port=port, username=username, password=password,
        use_tls=parts.scheme == "smtps",
        start_tls=_start_tls(parts.scheme, port, username, parse_qs(parts.query)),
        local_hostname=settings.smtp_hostname,
    )


def _relay_address(url: str) -> tuple[SplitResult, int, str | None]:
    """Scheme and host checked, the port (defaulted by scheme and login), the user name."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"INTAKE_SMTP_RELAY_URL: expected smtp://host:port or smtps://host, "
                          f"got {parts.scheme or url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError("INTAKE_SMTP_RELAY_URL: the port is not a number") from None
    username = unquote(parts.username) if parts.username else None
    port = port or (465 if parts.scheme == "smtps" else 587 if username else 25)
    return parts, port, username


def _failure(exc: Exception) -> SendFailure:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return SendFailure(f"recipient refused: {exc.recipients[0].code} "
                           f"{exc.recipients[0].message}"[:500], all(c >= 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        permanent = 500 <= exc.code < 600 and exc.code not in _AUTH_CODES
        return SendFailure(f"{type(exc).__name__}: {exc.code} {exc.message}"[:500], permanent)
    if isinstance(exc, ValueError | aiosmtplib.SMTPNotSupported):
        return SendFailure(f"{type(exc).__name__}: {exc}"[:500], True)
    return SendFailure(f"{type(exc).__name__}: {exc}"[:500], False)


async def send(relay: Relay, message: EmailMessage, sender: str, recipient: str) -> None:
    """Hand one message to the relay for `recipient`; SendFailure says whether to retry."""
    tls = ssl.create_default_context() if relay.use_tls or relay.start_tls else None
    try:
        await aiosmtplib.send(
            message, sender=sender, recipients=[recipient], hostname=relay.host,
            port=relay.port, username=relay.username, password=relay.password,
            use_tls=relay.use_tls, start_tls=relay.start_tls, tls_context=tls,
            local_hostname=relay.local_hostname, timeout=SEND_TIMEOUT,
        )
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        raise _failure(exc) from exc
