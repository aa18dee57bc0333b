"""Decoded email headers as mail programs write them: folded RFC 2047 words, repeated headers."""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from parsers.email import parse_email

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
# An encoded word ending a line, then a folded line starting with plain text (RFC 2047 §6.2:
# the whitespace between them is part of the text).
FOLD_AFTER_WORD = re.compile(rb"\?=\r\n [^=\s]")

SUBJECTS = [
    "Réorganisation des urgences pédiatriques pendant la pandémie",
    "Vídeo de la línea de apoyo — HLH-9SWNK-B",
    "Vidéo : Brigadas móviles de vacunación en comunidades rurales, pour la réunion régionale",
]


def written(subject: str, policy=email.policy.default, **headers: str) -> bytes:  # noqa: ANN001
    """The message Python's email package writes (as common mail programs do)."""
    message = EmailMessage(policy=policy)
    message["From"] = headers.pop("sender", "someone@example.org")
    message["To"] = "videos@intake.example"
    message["Subject"] = subject
    message.set_content("Please find our video attached.")
    for filename in headers.pop("filenames", ()):
        message.add_attachment(MP4, maintype="video", subtype="mp4", filename=filename)
    return message.as_bytes(policy=policy.clone(linesep="\r\n"))  # CRLF, as sent over SMTP


@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_folded_encoded_subject_keeps_the_space_after_each_encoded_word(subject):
    raw = written(subject)
    assert FOLD_AFTER_WORD.search(raw), raw  # the case under test: an encoded word, a fold, text
    parsed = parse_email(raw, "smtp")
    assert parsed.features.subject == subject
    assert not parsed.fallback


def test_whitespace_between_two_adjacent_encoded_words_is_dropped():
    raw = (b"From: a@example.org\r\nSubject: =?utf-8?q?Vid=C3=A9o_de?=\r\n"
           b" =?utf-8?q?_la_r=C3=A9union?= =?iso-8859-1?q?caf=E9?=\r\n\r\nbody\r\n")
    assert parse_email(raw, "smtp").features.subject == "Vidéo de la réunioncafé"


def test_plain_words_around_encoded_words_keep_their_spacing():
    raw = (b"From: a@example.org\r\nSubject: Video:  =?utf-8?q?r=C3=A9union?=  de\r\n juin\r\n"
           b"\r\nbody\r\n")
    assert parse_email(raw, "smtp").features.subject == "Video:  réunion  de juin"


def test_a_folded_raw_utf8_subject_is_read_whole():
    """RFC 6532 mail (SMTPUTF8) folds raw UTF-8 subjects too; the continuation is kept."""
    subject = "Réorganisation des urgences pédiatriques pendant la pandémie de COVID-19 à Lyon"
    raw = written(subject, policy=email.policy.SMTPUTF8)
    assert b"\r\n " in raw.split(b"\r\n\r\n")[0] and b"R\xc3\xa9organisation" in raw
    assert parse_email(raw, "smtp").features.subject == subject


def test_a_folded_raw_latin1_subject_is_read_whole():
    raw = (b"From: a@example.org\r\nSubject: Vid\xe9o de la r\xe9union\r\n r\xe9gionale\r\n"
           b"\r\nbody\r\n")
    assert parse_email(raw, "smtp").features.subject == "Vidéo de la réunion régionale"


def test_long_non_ascii_file_names_are_decoded_whole():
    """Python writes RFC 2231 continuations (filename*0*=, filename*1*=) for these."""
    names = ["Réorganisation des urgences pédiatriques pendant la pandémie, vidéo finale.mp4"]
    raw = written("video", filenames=names)
    assert b"filename*1*=" in raw
    assert parse_email(raw, "smtp").features.filenames == names


def test_a_folded_encoded_file_name_in_quotes_keeps_its_spaces():
    """Outlook-style quoted RFC 2047 names, folded: adjacent words join, text keeps its space."""
    raw = (b"From: a@example.org\r\nSubject: video\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
           b"--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--BB\r\nContent-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment;\r\n filename=\"=?utf-8?q?V=C3=ADdeo_final?=\r\n"
           b" de la =?utf-8?q?l=C3=ADnea?=\r\n =?utf-8?q?_de_apoyo?=.mp4\"\r\n\r\nAAAA\r\n"
           b"--BB\r\nContent-Type: video/mp4;"
           b" name=\"=?utf-8?q?Vid=C3=A9o?=\r\n =?utf-8?q?_2?=.mp4\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--BB--\r\n")
    parsed = parse_email(raw, "smtp")
    assert parsed.features.filenames == ["Vídeo final de la línea de apoyo.mp4", "Vidéo 2.mp4"]
    assert [a.filename for a in parsed.attachments] == parsed.features.filenames


def test_the_stdlib_fallback_decodes_subject_and_file_names_and_reads_references():
    nested = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" * 2000  # too deep
    raw = (b"From: a@example.org\r\nSubject: =?utf-8?q?Vid=C3=A9o_de_la_r=C3=A9union?=\r\n"
           b" pendant la =?utf-8?q?pand=C3=A9mie?=\r\nReferences: <ack-1@intake.example>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=TOP\r\n\r\n--TOP\r\n"
           b"Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=\"=?utf-8?q?V=C3=ADdeo?=\r\n final.mp4\"\r\n"
           b"\r\nAAAA\r\n--TOP\r\n" + nested)
    parsed = parse_email(raw, "smtp")
    assert parsed.fallback  # mail-parser gave up on the nesting; the stdlib read it
    assert parsed.features.subject == "Vidéo de la réunion pendant la pandémie"
    assert parsed.features.filenames == ["Vídeo final.mp4"]
    assert parsed.features.references == ["ack-1@intake.example"]


def test_a_second_subject_header_is_a_defect_and_the_first_one_counts():
    parsed = parse_email((MAIL / "repeated_subject_header.eml").read_bytes(), "smtp")
    assert parsed.features.subject == "Digital register of home births"
    assert "DuplicateHeader: subject" in parsed.defects
    assert not parsed.fallback


def test_repeated_in_reply_to_and_references_are_all_read():
    parsed = parse_email((MAIL / "repeated_reply_headers.eml").read_bytes(), "smtp")
    assert not parsed.fallback, parsed.defects
    assert parsed.features.references == ["ack-1@intake.example", "ack-2@intake.example",
                                          "first@example.org"]
