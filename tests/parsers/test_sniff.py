"""Media sniffing from bytes, and safe file names."""

from __future__ import annotations

import io
import zipfile

import pytest

from parsers.sniff import MAX_NAME, safe_filename, sniff

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(100)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(100)
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(100)
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(100)
HEIC = b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(100)
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(100)
OPUS = b"OggS\x00\x02" + bytes(20) + b"OpusHead" + bytes(20)


def zip_bytes(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "name", "mime", "kind"),
    [
        (MP4, "clip.mp4", "video/mp4", "video"),
        (MOV, "clip.mov", "video/quicktime", "video"),
        (HEIC, "photo.heic", "image/heic", "image"),
        (PNG, "photo.png", "image/png", "image"),
        (JPEG, "photo.jpg", "image/jpeg", "image"),
        (PDF, "brief.pdf", "application/pdf", "document"),
        (MP3, "song.mp3", "audio/mpeg", "audio"),
        (OPUS, "voice.oga", "audio/ogg", "audio"),
        (zip_bytes("a.txt"), "files.zip", "application/zip", "archive"),
        ("plain words, ça va".encode(), "notes.txt", "text/plain", "document"),
    ],
)
def test_types_from_bytes(head, name, mime, kind):
    sniffed = sniff(head, name)
    assert (sniffed.mime, sniffed.kind, sniffed.flags) == (mime, kind, ())


def test_office_zip_is_a_document():
    sniffed = sniff(zip_bytes("[Content_Types].xml", "word/document.xml"), "a.docx")
    assert sniffed.kind == "document" and "wordprocessingml" in sniffed.mime


@pytest.mark.parametrize("head", [ELF, PE])
def test_executable_renamed_mp4_is_caught(head):
    sniffed = sniff(head, "holiday.mp4")
    assert sniffed.kind == "executable"
    assert "type_mismatch" in sniffed.flags


def test_name_is_never_believed():
    assert sniff(PNG, "video.mp4").kind == "image"
    assert "type_mismatch" in sniff(PNG, "video.mp4").flags
    assert sniff(MP4, "report.pdf").kind == "video"
    assert sniff(MP4, None).kind == "video"
    assert sniff(bytes(range(256)), "x.mov").flags == ("type_mismatch",)


def test_zero_bytes():
    sniffed = sniff(b"", "clip.mp4")
    assert sniffed.kind == "other" and "empty" in sniffed.flags


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\me\\video.mp4", "video.mp4"),
        (".htaccess", "htaccess"),
        ("...", "fallback.bin"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
        ("a\x00b\x1fc.mp4", "abc.mp4"),
        ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override dropped
        ("e\u0301te\u0301.mp4", "\u00e9t\u00e9.mp4"),  # NFC
        ('what?<is>"this".mov', "what__is__this_.mov"),
        ("CON.txt", "_CON.txt"),
        ("vidéo finale .mp4 ", "vidéo finale .mp4"),
        ("视频 2024.mp4", "视频 2024.mp4"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name, "fallback.bin") == expected


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 400 + ".mp4", "f")
    assert len(name) == MAX_NAME and name.endswith("xx.mp4")
    name = safe_filename("видео" * 100, "f")
    assert len(name) == MAX_NAME
