"""Whether an email may get an automatic answer (RFC 3834, backscatter and out-of-office)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parseaddr

# Reasons are stable codes (stored on the suppressed Outbound row), each with a detail.
OK = "ok"

# Precedence values of mailing lists and robots (RFC 2076 is de facto, not a standard).
_BULK_PRECEDENCE = {"bulk", "list", "junk", "auto_reply", "auto-reply"}

# Addresses that are robots or lists (RFC 3834 §2 allows refusing owner-*, *-request,
# MAILER-DAEMON); chatwoot#5131 and osTicket#1041 are loops with no-reply addresses.
_ROBOT_LOCAL = re.compile(
    r"^(?:mailer[-_.]?daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply"
    r"|noreply[-_.+].*|no[-_.]reply[-_.+].*|bounces?|bounces?[-_.+].*|owner-.+|.+-owner"
    r"|.+-request|.+-bounces?|listserv|majordomo|mailman|auto[-_.]?reply|autoresponder)$"
)

# Out-of-office subjects and openings in English, French and Spanish (freescout#688).
# Matched against the subject and the first lines of the text, case-insensitively.
_OOO_SUBJECT = re.compile(
    r"\b(?:out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto[-\s]?repl(?:y|ied)|autoreply"
    r"|away\s+from\s+(?:the\s+)?office"
    r"|absente?\s+du\s+bureau|absence\s+du\s+bureau|r[ée]ponse\s+automatique"
    r"|message\s+d'absence"
    r"|respuesta\s+autom[áa]tica|fuera\s+de\s+(?:la\s+)?oficina|ausente\s+de\s+la\s+oficina"
    r"|(?:mensaje|aviso)\s+de\s+ausencia)\b",
    re.IGNORECASE,
)
# Openings in the first person only: a practice about holidays is not an absence note.
_OOO_TEXT = re.compile(
    r"\b(?:I(?:'m|\u2019m|\s+am|\s+will\s+be)\s+(?:currently\s+)?(?:out\s+of\s+(?:the\s+)?office"
    r"|away\s+from\s+(?:the\s+)?office|on\s+(?:annual\s+|parental\s+|sick\s+)?leave"
    r"|on\s+vacation|on\s+holiday)"
    r"|je\s+(?:suis|serai)\s+(?:actuellement\s+)?(?:absente?|en\s+cong[ée]s?|en\s+vacances)"
    r"|(?:estoy|estar[ée]|me\s+encuentro)\s+(?:actualmente\s+)?(?:fuera\s+de\s+la\s+oficina"
    r"|ausente|de\s+vacaciones))",
    re.IGNORECASE,
)
OOO_TEXT_CHARS = 600  # an out-of-office note says so at once; deeper is quoted mail


def address_of(value: str | None) -> str:
    """The bare, lower-cased address in an envelope or header value; '' for <> or none."""
    if not value:
        return ""
    _name, address = parseaddr(value.strip())
    return address.strip().strip("<>").lower()


def _ours(address: str, our_addresses: Iterable[str]) -> bool:
    domain = address.rpartition("@")[2]
    for entry in our_addresses:
        entry = entry.strip().lower()
        if entry and (address == entry or (entry.startswith("@") and domain == entry[1:])):
            return True
    return False


def _header_reason(headers: Mapping[str, str]) -> str | None:
    """The first header that marks the message as automatic, bulk or a list's."""
    for check in _HEADER_CHECKS:
        reason = check(headers)
        if reason:
            return reason
    return None


def _auto_submitted(headers: Mapping[str, str]) -> str | None:
    auto = headers.get("auto-submitted", "").strip().lower()
    return f"auto_submitted: {auto[:60]}" if auto and auto.split(";")[0].strip() != "no" else None


def _precedence(headers: Mapping[str, str]) -> str | None:
    precedence = headers.get("precedence", "").strip().lower()
    return f"precedence: {precedence}" if precedence in _BULK_PRECEDENCE else None


def _suppressed(headers: Mapping[str, str]) -> str | None:
    suppress = headers.get("x-auto-response-suppress", "").lower()
    if re.search(r"\b(?:all|autoreply|oof)\b", suppress):
        return f"x_auto_response_suppress: {suppress[:60]}"
    return None


def _responder_headers(headers: Mapping[str, str]) -> str | None:
    for name in ("x-autoreply", "x-autorespond", "x-failed-recipients"):
        if name in headers:
            return f"{name.replace('-', '_')}"
    return None


def _list_headers(headers: Mapping[str, str]) -> str | None:
    lists = sorted(name for name in headers if name.startswith("list-"))
    return f"list_header: {lists[0]}" if lists else None


def _delivery_report(headers: Mapping[str, str]) -> str | None:
    content_type = headers.get("content-type", "").strip().lower()
    if content_type.startswith(("multipart/report", "message/delivery-status")):
        return "delivery_report"
    return None


def _forged_or_spam(headers: Mapping[str, str]) -> str | None:
    """What the receiving MTA said (the first, i.e. nearest, header): answering a forged
    sender is backscatter. A sender can add such headers only to silence answers to itself."""
    results = headers.get("authentication-results", "").lower()
    failed = re.search(r"\b(dmarc|spf)=(?:fail|hardfail)\b", results)
    if failed:
        return f"forged_sender: {failed.group(0)}"
    if headers.get("x-spam-flag", "").strip().lower() == "yes" or headers.get(
            "x-spam-status", "").strip().lower().startswith("yes"):
        return "spam"
    return None


# In order: the first that holds is the reason recorded.
_HEADER_CHECKS = (_auto_submitted, _precedence, _suppressed, _responder_headers, _list_headers,
                  _delivery_report, _forged_or_spam)


def _address_reason(destination: str, sender: str, our_addresses: Iterable[str]) -> str | None:
    if not destination:
        return "null_sender"
    if "@" not in destination or any(c in destination for c in " \r\n\t,;<>\"'()"):
        return "bad_sender"
    for address in (destination, sender):
        if address and _ours(address, our_addresses):
            return f"own_address: {address}"
    return _robot(destination, sender)


def _robot(*addresses: str) -> str | None:
    for address in addresses:
        if address and _ROBOT_LOCAL.match(address.partition("@")[0]):
            return f"robot_sender: {address}"
    return None


def out_of_office(subject: str, text: str) -> str | None:
    """The out-of-office wording found in the subject or the opening text, if any."""
    found = _OOO_SUBJECT.search(subject or "") or _OOO_TEXT.search((text or "")[:OOO_TEXT_CHARS])
    return found.group(0) if found else None


def should_acknowledge(
    headers: Mapping[str, str],
    envelope_sender: str | None,
    sender: str | None,
    our_addresses: Iterable[str],
    *,
    subject: str = "",
    text: str = "",
) -> tuple[bool, str]:
    """May we answer this message automatically? (True, "ok") or (False, reason).

    `headers` are lower-cased names (parsers.email._headers); `envelope_sender` is the SMTP
    MAIL FROM or the Return-Path ("<>" or None for the null sender) and is where an answer
    would go; `sender` is the From address. Never answer a robot, a list, a bounce, an
    auto-reply or ourselves: that is how loops and backscatter start.
    """
    headers = {k.lower(): str(v) for k, v in headers.items()}
    destination = address_of(envelope_sender)
    if (envelope_sender or "").strip() in ("<>", ""):
        destination = ""
    sender_address = address_of(sender)
    # Out-of-office first: most carry Auto-Submitted too, and the item is flagged by this.
    wording = out_of_office(subject, text)
    reason = (
        (f"out_of_office: {wording}" if wording else None)
        or _header_reason(headers)
        or _null_return_path(headers)
        or _address_reason(destination, sender_address, list(our_addresses))
    )
    return (False, reason) if reason else (True, OK)


def _null_return_path(headers: Mapping[str, str]) -> str | None:
    if "return-path" in headers and not address_of(headers["return-path"]):
        return "null_sender"
    return None
