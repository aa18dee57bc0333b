"""Email parsing with mail-parser: features for matching, attachments as bytes, defects kept."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from html.parser import HTMLParser

import mailparser

from parsers.features import TEXT_LIMIT, Features

_ID = re.compile(r"<([^<>\s]+)>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class Attachment:
    """One MIME part that is a file: its declared name and type, and its decoded bytes."""

    filename: str | None
    declared_type: str | None
    payload: bytes
    inline: bool = False


@dataclass
class ParsedEmail:
    """What processing needs of one email."""

    features: Features
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, first value
    fallback: bool = False  # mail-parser failed; the stdlib parser read it


def header_block(raw: bytes) -> bytes:
    """The header section only (everything before the first empty line)."""
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


def message_id(raw: bytes) -> str | None:
    """The Message-ID, read cheaply from the headers; None when absent or unusable."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))
    value = headers.get("Message-ID") or headers.get("Message-Id")
    ids = _ids(str(value)) if value else []
    return ids[0] if ids else None


def header_references(raw: bytes) -> list[str]:
    """In-Reply-To then References ids, read from the header section alone (cheap)."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))
    return reference_ids(str(headers.get("In-Reply-To", "")), str(headers.get("References", "")))


def _ids(value: str) -> list[str]:
    found = _ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return [i for i in found if 0 < len(i) <= 900]


class _TextOfHtml(HTMLParser):
    """Reduce HTML to its visible text (scripts and styles dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")
        for name, value in attrs:
            if tag == "a" and name == "href" and value:
                self.parts.append(f" {value} ")  # keep video links that hide behind anchors

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return re.sub(r"[ \t]+", " ", "".join(parser.parts)).strip()


def _raw_subject(raw: bytes) -> str | None:
    """Decode a raw 8-bit Subject that mail-parser drops silently (cp1252 fallback)."""
    for line in header_block(raw).split(b"\n"):
        if line[:8].lower() == b"subject:":
            value = line[8:].strip()
            if all(b < 128 for b in value):
                return None
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return value.decode("cp1252", errors="replace")
    return None


def _sender(from_: list, envelope_sender: str | None) -> str | None:
    for _name, address in from_ or []:
        if address and "@" in address:
            return address.strip().lower()
    if envelope_sender and "@" in envelope_sender:
        return envelope_sender.strip().strip("<>").lower()
    return None


def _decode_attachment(part: dict) -> Attachment:
    payload = part.get("payload") or ""
    if part.get("binary"):
        data = base64.b64decode(payload)
    else:
        data = payload.encode(part.get("charset") or "utf-8", errors="replace")
    disposition = (part.get("content-disposition") or "").lower()
    return Attachment(
        filename=part.get("filename"),
        declared_type=part.get("mail_content_type"),
        payload=data,
        inline=disposition.startswith("inline"),
    )


def reference_ids(in_reply_to: str, references: str) -> list[str]:
    seen: list[str] = []
    for value in (in_reply_to, references):
        for ident in _ids(value or ""):
            if ident not in seen:
                seen.append(ident)
    return seen


def _headers(message) -> dict[str, str]:  # noqa: ANN001 - email.message.Message
    wanted = ("auto-submitted", "precedence", "x-auto-response-suppress", "return-path",
              "content-type", "x-autoreply", "x-autorespond", "x-failed-recipients",
              "content-language", "authentication-results", "x-spam-flag", "x-spam-status")
    out = {}
    for name in wanted:
        value = message.get(name)
        if value is not None:
            out[name] = str(value)
    for name in message:
        if name.lower().startswith("list-"):
            out.setdefault(name.lower(), str(message.get(name)))
    return out


def parse_email(raw: bytes, channel: str, envelope_sender: str | None = None) -> ParsedEmail:
    """Parse an email; never raises for bad input — the stdlib reads what mail-parser cannot."""
    try:
        return _parse_mailparser(raw, channel, envelope_sender)
    except Exception as exc:  # mail-parser raises many kinds; we fall back, not fail
        return _parse_stdlib(raw, channel, envelope_sender, f"{type(exc).__name__}: {exc}")


def _parse_mailparser(raw: bytes, channel: str, envelope_sender: str | None) -> ParsedEmail:
    parsed = mailparser.parse_from_bytes(raw)
    text = "\n".join(parsed.text_plain) or html_to_text("\n".join(parsed.text_html))
    features = Features(
        channel=channel,
        sender=_sender(parsed.from_, envelope_sender),
        subject=_raw_subject(raw) or parsed.subject or "",
        text=text[:TEXT_LIMIT],
        message_id=message_id(raw),
        references=reference_ids(parsed.in_reply_to, parsed.references),
    )
    attachments = []
    for part in parsed.attachments:
        attachments.append(_decode_attachment(part))
        part["payload"] = None  # its base64 text is bigger than the file: drop it now
    features.filenames = [a.filename for a in attachments if a.filename]
    defects = sorted(str(d) for d in parsed.defects_categories)
    return ParsedEmail(features, attachments, defects, _headers(parsed.message))


def _parse_stdlib(raw: bytes, channel: str, sender: str | None, why: str) -> ParsedEmail:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    attachments, texts = [], []
    for part in message.walk() if message.is_multipart() else [message]:
        if part.is_multipart() or part.get_content_maintype() == "multipart":
            continue  # a broken multipart container: its children, if any, come next
        data = part.get_payload(decode=True) or b""
        if part.get_filename() or part.get_content_maintype() not in ("text", "message"):
            attachments.append(Attachment(part.get_filename(), part.get_content_type(), data))
        else:
            texts.append(data.decode(part.get_content_charset() or "utf-8", errors="replace"))
    features = Features(
        channel=channel,
        sender=_sender(getaddresses([str(message.get("From", ""))]), sender),
        subject=str(message.get("Subject", "")),
        text="\n".join(texts)[:TEXT_LIMIT],
        filenames=[a.filename for a in attachments if a.filename],
        message_id=message_id(raw),
    )
    return ParsedEmail(features, attachments, [f"mail-parser failed: {why}"], _headers(message),
                       fallback=True)
