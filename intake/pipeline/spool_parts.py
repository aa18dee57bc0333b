"""Worker: a big email's base64 and quoted-printable file parts decoded straight to spool
files as the raw file is read, leaving a small skeleton (the same message with a token in
place of each such body) for the usual parser. Anything this reader is not sure to read
as the email package does (broken MIME, odd base64, lone CRs) makes it give up, and the
whole message is parsed as before: same media, same texts, same verdicts."""

from __future__ import annotations

import base64
import binascii
import email.policy
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path

HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")  # the feedparser's
BASE64_LINE = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
READ_BYTES = 1 << 20
MAX_HEADER_BYTES = 1 << 20
SNIFF_BYTES = 8192
DECODE_BYTES = 1 << 20


class NotStreamable(Exception):
    """This message is parsed the old way (whole), for exactly the old result."""


@dataclass
class SpooledPart:
    """A decoded part on disk: what the skeleton's token stands for."""

    path: str
    sha256: str
    size: int
    head: bytes  # the first bytes, for sniffing the type


@dataclass
class _Decoder:
    """One base64 body being decoded to its spool file, with sha256 on the fly."""

    path: Path
    handle: object
    sha: object = field(default_factory=hashlib.sha256)
    size: int = 0
    head: bytes = b""
    carry: bytearray = field(default_factory=bytearray)
    ended: bool = False  # padding seen: no more data may follow

    def line(self, line: bytes) -> None:
        text = line.rstrip(b"\r\n")
        if not BASE64_LINE.match(text) or (self.ended and text):
            raise NotStreamable("not clean base64")
        self.ended = self.ended or text.endswith(b"=")
        self.carry += text
        if len(self.carry) >= DECODE_BYTES:  # decode by the MiB, not line by line
            self._decode()

    def block(self, lines: bytes) -> None:
        """Whole base64 lines at once (the fast path: a video is millions of lines)."""
        if lines.count(b"\r") != lines.count(b"\r\n"):
            raise NotStreamable("a lone CR")
        text = lines.translate(None, b"\r\n")
        if text.translate(None, BASE64_CHARS) or (self.ended and text):
            raise NotStreamable("not clean base64")
        pad = text.find(b"=")
        if pad >= 0:
            if text[pad:].strip(b"="):
                raise NotStreamable("base64 padding inside the data")
            self.ended = True
        self.carry += text
        if len(self.carry) >= DECODE_BYTES:
            self._decode()

    def _decode(self) -> None:
        cut = len(self.carry) - len(self.carry) % 4
        data, self.carry = self.carry[:cut], self.carry[cut:]
        if data:
            self._write(binascii.a2b_base64(data))

    def _write(self, decoded: bytes) -> None:
        if len(self.head) < SNIFF_BYTES:
            self.head += decoded[:SNIFF_BYTES - len(self.head)]
        self.sha.update(decoded)
        self.handle.write(decoded)
        self.size += len(decoded)

    def close(self) -> SpooledPart:
        self._decode()
        self.handle.close()
        if self.carry:
            raise NotStreamable("base64 length not a multiple of 4")
        return SpooledPart(str(self.path), self.sha.hexdigest(), self.size, self.head)

    def token(self, token: bytes) -> bytes:
        """What stands for the body in the skeleton, in this part's transfer encoding."""
        return base64.b64encode(token)


@dataclass
class _QpDecoder(_Decoder):
    """A quoted-printable body, decoded as the email package does (binascii.a2b_qp), by
    whole lines: no escape spans a line end. The line end before the boundary is not the
    body's (the parser gives it to the boundary), so the last line waits for the next."""

    held: bytes = b""

    def line(self, line: bytes) -> None:
        self.carry += self.held
        self.held = line
        if len(self.carry) >= DECODE_BYTES:
            self._decode()

    def _decode(self) -> None:
        data, self.carry = bytes(self.carry), bytearray()
        if data:
            self._write(binascii.a2b_qp(data))

    def close(self) -> SpooledPart:
        last = self.held[:-2] if self.held.endswith(b"\r\n") else self.held[:-1]
        self.carry += last
        self.held = b""
        return super().close()

    def token(self, token: bytes) -> bytes:
        return token  # plain ASCII, no "=": the same after quoted-printable decoding


DECODERS = {"base64": _Decoder, "quoted-printable": _QpDecoder}


class _Splitter:
    """A line-by-line MIME reader over the raw file, writing the skeleton as it goes."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self.skeleton = bytearray()
        self.parts: dict[bytes, SpooledPart] = {}
        self.boundaries: list[bytes] = []
        self.headers = bytearray()
        self.in_headers = True
        self.decoder: _Decoder | None = None
        # mail-parser keeps a forwarded message that is an attachment whole, as text, base64
        # and all: inside one (up to this boundary depth) nothing may leave the skeleton.
        self.frozen: int | None = None

    def feed(self, line: bytes) -> None:
        if b"\r" in line[:-2] or (line.endswith(b"\r")):
            raise NotStreamable("a lone CR: the email package splits lines there too")
        if self.in_headers:
            return self._header_line(line)
        boundary = self._boundary(line)
        if boundary is not None:
            return self._at_boundary(line, *boundary)
        if self.decoder is not None:
            return self.decoder.line(line)
        self.skeleton += line

    def _header_line(self, line: bytes) -> None:
        if line in (b"\r\n", b"\n"):
            self.in_headers = False
            return self._headers_done(line)
        if not HEADER_LINE.match(line) or len(self.headers) > MAX_HEADER_BYTES:
            raise NotStreamable("headers without a separator")
        self.headers += line

    def _headers_done(self, blank: bytes) -> None:
        block, self.headers = bytes(self.headers), bytearray()
        self.skeleton += block + blank
        part = BytesHeaderParser(policy=email.policy.compat32).parsebytes(block)
        if part.defects:
            raise NotStreamable("header defects")
        maintype = part.get_content_maintype()
        encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
        if maintype == "multipart":
            if not part.get_boundary():
                raise NotStreamable("multipart without a boundary")
            self.boundaries.append(part.get_boundary().encode("latin-1"))
        elif maintype == "message":
            if part.get_content_type() != "message/rfc822" or encoding not in (
                    "", "7bit", "8bit", "binary"):
                raise NotStreamable("another kind of message part")
            self.in_headers = True  # the forwarded message's own headers come next
            if self.frozen is None and _a_file(part):
                self.frozen = len(self.boundaries)
        elif encoding in DECODERS and maintype != "text" and self.boundaries and (
                self.frozen is None and _a_file(part)):
            self._start_decoder(DECODERS[encoding])

    def _start_decoder(self, kind: type[_Decoder]) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"att-{uuid.uuid4().hex}"
        self.decoder = kind(path, path.open("xb"))

    def _boundary(self, line: bytes) -> tuple[int, bool] | None:
        """Which open boundary this line is (index in the stack, closing?), if any."""
        if not line.startswith(b"--") or not self.boundaries:
            return None
        text = line.rstrip(b"\r\n").rstrip(b" \t")
        for index in range(len(self.boundaries) - 1, -1, -1):
            mark = b"--" + self.boundaries[index]
            if text == mark or text == mark + b"--":
                return index, text.endswith(b"--") and text != mark
        return None

    def _at_boundary(self, line: bytes, index: int, closing: bool) -> None:
        if self.decoder is not None:
            self._end_part(b"\r\n" if line.endswith(b"\r\n") else b"\n")
        if index != len(self.boundaries) - 1:
            raise NotStreamable("an outer boundary closes an inner multipart")
        self.skeleton += line
        if self.frozen is not None and index == self.frozen - 1:
            self.frozen = None  # the part holding the forwarded message ends here
        if closing:
            self.boundaries.pop()
        else:
            self.in_headers = True

    def _end_part(self, ending: bytes) -> None:
        spooled, decoder = self.decoder.close(), self.decoder
        self.decoder = None
        token = f"intake-spooled-part-{uuid.uuid4().hex}".encode()
        self.parts[token] = spooled
        self.skeleton += decoder.token(token) + ending

    def bulk(self, handle) -> None:  # noqa: ANN001 - a binary file
        """While a base64 body is open, feed it to the decoder by the MiB, up to the next
        line that could be a boundary (it starts with "--"), which feed() then reads."""
        while self.decoder is not None and type(self.decoder) is _Decoder:
            start = handle.tell()
            block = handle.read(READ_BYTES)
            end = block.rfind(b"\n") + 1
            dash = -1 if block.startswith(b"--") else block.find(b"\n--", 0, end)
            stop = 0 if block.startswith(b"--") else (dash + 1 if dash >= 0 else end)
            handle.seek(start + stop)
            if stop:
                self.decoder.block(block[:stop])
            if stop < end or not end:  # a boundary-like line, a huge line, or the end
                return

    def finish(self) -> None:
        if self.decoder is not None or self.in_headers:
            raise NotStreamable("the message ends inside a part")

    def discard(self) -> None:
        if self.decoder is not None:
            self.decoder.handle.close()
            self.decoder.path.unlink(missing_ok=True)
        for part in self.parts.values():
            Path(part.path).unlink(missing_ok=True)


def _a_file(part) -> bool:  # noqa: ANN001 - email.message.Message
    """Whether mail-parser counts the part as an attachment (its rule); any other part is
    body text to it, whatever its type, and must stay in the skeleton."""
    disposition = str(part.get_content_disposition() or "").lower()
    if part.get_filename() or disposition == "attachment":
        return True
    return bool(part.get("content-id")) and part.get_content_subtype() not in ("html", "plain")


def split_parts(raw_path: Path, spool_dir: Path) -> tuple[bytes, dict[bytes, SpooledPart]]:
    """The skeleton and its spooled parts (token → file); NotStreamable when the message
    must be parsed whole. Memory: the skeleton and one line, whatever the attachments."""
    splitter = _Splitter(spool_dir)
    try:
        with Path(raw_path).open("rb") as handle:
            while line := handle.readline():
                splitter.feed(line)
                splitter.bulk(handle)
        splitter.finish()
    except BaseException:
        splitter.discard()
        raise
    return bytes(splitter.skeleton), splitter.parts
