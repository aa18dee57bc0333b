"""Start-up checks of the settings a capability reads with its own parser (relay, mailboxes…),
run with load_settings' before any command starts, so every bad setting is said at once."""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable

from intake.config import ConfigError, Settings

WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts


def _relay(settings: Settings) -> None:
    if settings.smtp_relay_url:
        from intake.replies.mailer import parse_relay

        parse_relay(settings)


def _ack_from(settings: Settings) -> None:
    if not settings.smtp_relay_url:
        return
    if not settings.ack_from.strip():
        raise ConfigError("INTAKE_ACK_FROM: INTAKE_SMTP_RELAY_URL is set, so acknowledgements "
                          "need our address to come from, e.g. videos@example.org")
    from intake.replies.acks import check_ack_from

    check_ack_from(settings)


def _imap_urls(settings: Settings) -> None:
    if settings.imap_urls:
        from intake.mail.imap import mailbox_specs

        mailbox_specs(settings)


def _imap_keyword(settings: Settings) -> None:
    if settings.imap_urls:
        from intake.mail.imap import imap_options

        imap_options(settings)


def _web_secret(settings: Settings) -> None:
    secret = settings.web_secret.get_secret_value()
    if secret:
        from intake.web.security import MIN_SECRET

        if len(secret) < MIN_SECRET:
            raise ConfigError(f"INTAKE_WEB_SECRET: at least {MIN_SECRET} characters are needed "
                              f"(got {len(secret)})")


def _telegram_webhook(settings: Settings) -> None:
    secret = settings.telegram_webhook_secret.get_secret_value()
    if settings.telegram_webhook_url and not WEBHOOK_SECRET.match(secret):
        raise ConfigError("INTAKE_TELEGRAM_WEBHOOK_URL: needs INTAKE_TELEGRAM_WEBHOOK_SECRET "
                          "(1-256 characters of A-Z, a-z, 0-9, _ and -)")


def _response_id_pattern(settings: Settings) -> None:
    if not settings.response_id_pattern:
        return
    try:
        compiled = re.compile(settings.response_id_pattern)
    except re.error as exc:
        raise ConfigError(f"INTAKE_RESPONSE_ID_PATTERN: not a regular expression: {exc}") from None
    if "id" not in compiled.groupindex:
        raise ConfigError("INTAKE_RESPONSE_ID_PATTERN: needs a named group (?P<id>…) for the id")


def _smtp_tls(settings: Settings) -> None:
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if bool(cert) != bool(key):  # one alone would silently mean no STARTTLS at all
        raise ConfigError("INTAKE_SMTP_TLS_CERT: STARTTLS needs both INTAKE_SMTP_TLS_CERT and "
                          "INTAKE_SMTP_TLS_KEY")
    if cert:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"INTAKE_SMTP_TLS_CERT: cannot load {cert} with its key {key}: "
                              f"{exc.strerror or exc}") from None


CHECKS: tuple[Callable[[Settings], None], ...] = (
    _relay, _ack_from, _imap_urls, _imap_keyword, _web_secret, _telegram_webhook,
    _response_id_pattern, _smtp_tls,
)


def check_settings(settings: Settings) -> None:
    """Every check; one ConfigError holding each problem on a line of its own."""
    problems = []
    for check in CHECKS:
        try:
            check(settings)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
