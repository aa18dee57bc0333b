"""Email parsing with mail-parser: features for matching, attachments as bytes, defects kept."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from html.parser import HTMLParser

import mailparser
from mailparser.utils import decode_header_part, mime_header_view

from parsers.features import TEXT_LIMIT, Features

_ID = re.compile(r"<([^<>\s]+)>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


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
    """In-Reply-To then References ids (every occurrence), read from the header section alone."""
    headers = _header_values(raw)
    return reference_ids(" ".join(_raw_values(headers, "in-reply-to")),
                         " ".join(_raw_values(headers, "references")))


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


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: a folded header is one line again once each CRLF before white space goes."""
    return _FOLD.sub("", value)


def decode_words(value: str) -> str:
    """RFC 2047 words of a header decoded. mail-parser (like the stdlib's decode_header) reads a
    folded value line by line and strips each line's leading white space, which joins the
    plain text after an encoded word to it ("pédiatriquespendant"); unfolded first, only the
    white space between two adjacent encoded words goes, as RFC 2047 §6.2 says."""
    return decode_header_part(unfold(value))


def _header_values(raw: bytes) -> Message:
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_block(raw))


def _raw_values(headers: Message, name: str) -> list[str]:
    """Every occurrence of a header as it was sent (8-bit bytes kept as surrogate escapes)."""
    return [str(value) for key, value in headers.raw_items() if key.lower() == name]


def _subject(headers: Message) -> str:
    """The first Subject, decoded. Raw 8-bit text (which mail-parser drops silently) is read
    as UTF-8 (RFC 6532), else cp1252."""
    values = _raw_values(headers, "subject")
    if not values:
        return ""
    value = unfold(values[0])
    if value.isascii():
        return decode_words(value)
    octets = value.encode("utf-8", errors="surrogateescape")
    try:
        return octets.decode("utf-8").strip()
    except UnicodeDecodeError:
        return octets.decode("cp1252", errors="replace").strip()


def _repeated(headers: Message) -> list[str]:
    """Headers RFC 5322 §3.6 allows once that came more than once (the first one counts)."""
    once = ("subject", "message-id", "in-reply-to", "references")
    return [f"DuplicateHeader: {name}" for name in once if len(_raw_values(headers, name)) > 1]


def _filename_fixes(message: Message) -> dict[str, str]:
    """mail-parser's reading of each folded file name → the right one (see decode_words); the
    parts are those mail-parser walked, their names read through its own header view."""
    fixes = {}
    for part in message.walk():
        name = mime_header_view(part)[0].get_filename()
        if name and "\n" in name:
            fixes[decode_header_part(name)] = decode_words(name)
    return fixes


def _sender(from_: list, envelope_sender: str | None) -> str | None:
    for _name, address in from_ or []:
        if address and "@" in address:
            return address.strip().lower()
    if envelope_sender and "@" in envelope_sender:
        return envelope_sender.strip().strip("<>").lower()
    return None


def _decode_attachment(part: dict, fixes: dict[str, str]) -> Attachment:
    payload = part.get("payload") or ""
    if part.get("binary"):
        data = base64.b64decode(payload)
    else:
        data = payload.encode(part.get("charset") or "utf-8", errors="replace")
    disposition = (part.get("content-disposition") or "").lower()
    return Attachment(
        filename=fixes.get(part.get("filename"), part.get("filename")),
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
    headers = _header_values(raw)
    text = "\n".join(parsed.text_plain) or html_to_text("\n".join(parsed.text_html))
    # Subject and references are read here, not from mail-parser, which gives a list for a
    # repeated header (a second Subject once failed matching with a TypeError).
    features = Features(
        channel=channel,
        sender=_sender(parsed.from_, envelope_sender),
        subject=_subject(headers),
        text=text[:TEXT_LIMIT],
        message_id=message_id(raw),
        references=header_references(raw),
    )
    attachments, fixes = [], _filename_fixes(parsed.message)
    for part in parsed.attachments:
        attachments.append(_decode_attachment(part, fixes))
        part["payload"] = None  # its base64 text is bigger than the file: drop it now
    features.filenames = [a.filename for a in attachments if a.filename]
    defects = sorted({str(d) for d in parsed.defects_categories} | set(_repeated(headers)))
    return ParsedEmail(features, attachments, defects, _headers(parsed.message))


def _parse_stdlib(raw: bytes, channel: str, sender: str | None, why: str) -> ParsedEmail:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    attachments, texts = [], []
    for part in message.walk() if message.is_multipart() else [message]:
        if part.is_multipart() or part.get_content_maintype() == "multipart":
            continue  # a broken multipart container: its children, if any, come next
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename or part.get_content_maintype() not in ("text", "message"):
            filename = decode_words(filename) if filename else None
            attachments.append(Attachment(filename, part.get_content_type(), data))
        else:
            texts.append(data.decode(part.get_content_charset() or "utf-8", errors="replace"))
    features = Features(
        channel=channel,
        sender=_sender(getaddresses([str(message.get("From", ""))]), sender),
        subject=_subject(_header_values(raw)),
        text="\n".join(texts)[:TEXT_LIMIT],
        filenames=[a.filename for a in attachments if a.filename],
        message_id=message_id(raw),
        references=header_references(raw),
    )
    return ParsedEmail(features, attachments, [f"mail-parser failed: {why}"], _headers(message),
                       fallback=True)
