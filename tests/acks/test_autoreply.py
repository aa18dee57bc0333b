"""The one decision about answering (RFC 3834), reply reading, and the acknowledgement texts."""

from __future__ import annotations

import pytest

from intake.replies.texts import AckContent, choose_language, guess_language, one_line, render
from parsers.autoreply import should_acknowledge
from parsers.refcode import new_code
from parsers.replies import own_words, stated_codes

OURS = ["videos@intake.example", "@intake.example"]


@pytest.mark.parametrize(("headers", "envelope", "sender", "reason"), [
    ({"auto-submitted": "auto-replied"}, "a@x.org", "a@x.org", "auto_submitted"),
    ({"auto-submitted": "auto-generated; owner-email=x@y"}, "a@x.org", "a@x.org",
     "auto_submitted"),
    ({"precedence": "bulk"}, "a@x.org", "a@x.org", "precedence"),
    ({"precedence": "junk"}, "a@x.org", "a@x.org", "precedence"),
    ({"precedence": "List"}, "a@x.org", "a@x.org", "precedence"),
    ({"list-unsubscribe": "<mailto:u@x.org>"}, "a@x.org", "a@x.org", "list_header"),
    ({"x-auto-response-suppress": "OOF, AutoReply"}, "a@x.org", "a@x.org",
     "x_auto_response_suppress"),
    ({"x-autoreply": "yes"}, "a@x.org", "a@x.org", "x_autoreply"),
    ({"x-failed-recipients": "b@y.org"}, "a@x.org", "a@x.org", "x_failed_recipients"),
    ({"content-type": "multipart/report; report-type=delivery-status"}, "a@x.org", "a@x.org",
     "delivery_report"),
    ({"authentication-results": "mx.intake.example; spf=fail smtp.mailfrom=x.org; "
                                "dkim=none"}, "a@x.org", "a@x.org", "forged_sender"),
    ({"authentication-results": "mx.google.com; dmarc=fail (p=REJECT) header.from=x.org"},
     "a@x.org", "a@x.org", "forged_sender"),
    ({"x-spam-flag": "YES"}, "a@x.org", "a@x.org", "spam"),
    ({"x-spam-status": "Yes, score=9.1 required=5.0"}, "a@x.org", "a@x.org", "spam"),
    ({}, "<>", "a@x.org", "null_sender"),
    ({}, "", "a@x.org", "null_sender"),
    ({}, None, "a@x.org", "null_sender"),
    ({"return-path": "<>"}, None, "a@x.org", "null_sender"),
    ({}, "MAILER-DAEMON@mx.x.org", "a@x.org", "robot_sender"),
    ({}, "Postmaster@x.org", "a@x.org", "robot_sender"),
    ({}, "no-reply@x.org", "a@x.org", "robot_sender"),
    ({}, "a@x.org", "noreply@x.org", "robot_sender"),
    ({}, "do-not-reply@x.org", "a@x.org", "robot_sender"),
    ({}, "videos-request@lists.x.org", "a@x.org", "robot_sender"),
    ({}, "owner-videos@lists.x.org", "a@x.org", "robot_sender"),
    ({}, "bounces+abc=x.org@mail.y.org", "a@x.org", "robot_sender"),
    ({}, "videos@intake.example", "a@x.org", "own_address"),
    ({}, "a@x.org", "Videos@Intake.Example", "own_address"),
    ({}, "anyone@intake.example", "a@x.org", "own_address"),
])
def test_loops_and_backscatter_are_never_answered(headers, envelope, sender, reason):
    ok, why = should_acknowledge(headers, envelope, sender, OURS)
    assert not ok and why.startswith(reason), why


@pytest.mark.parametrize(("subject", "text"), [
    ("Out of Office: until 3 June", ""),
    ("Automatic reply: our video", ""),
    ("Auto-Reply: Re: video", ""),
    ("Absent du bureau", ""),
    ("Réponse automatique : Votre message", ""),
    ("Message d'absence", ""),
    ("Respuesta automática: vídeo", ""),
    ("Fuera de la oficina", ""),
    ("Re: video", "Thank you for your email. I am currently out of the office until Monday."),
    ("Re: video", "Bonjour, je suis absente jusqu'au 12 juin."),
    ("Re: video", "Hola: me encuentro fuera de la oficina hasta el lunes."),
    ("Re: video", "I'm on annual leave and will reply when I return."),
])
def test_out_of_office_in_english_french_and_spanish(subject, text):
    ok, why = should_acknowledge({}, "a@x.org", "a@x.org", OURS, subject=subject, text=text)
    assert not ok and why.startswith("out_of_office"), why


@pytest.mark.parametrize(("headers", "subject", "text"), [
    ({}, "Our video", "Please find our video attached."),
    ({"auto-submitted": "no"}, "Video", "x"),
    ({"precedence": "first-class"}, "Video", "x"),
    ({"authentication-results": "mx; spf=pass; dkim=pass; dmarc=pass"}, "Video", "x"),
    ({"x-spam-status": "No, score=0.1"}, "Video", "x"),
    ({}, "Holiday camps for children", "Our practice runs summer holiday camps."),
    ({}, "Vidéo", "Nos ateliers pendant les congés scolaires."),
    ({}, "Vacaciones útiles", "Un programa de vacaciones para jóvenes."),
    ({}, "Video", "Intro\n" + "x" * 700 + "\nI am out of the office until Monday (quoted)"),
])
def test_people_are_answered(headers, subject, text):
    assert should_acknowledge(headers, "Ana <ana@x.org>", "ana@x.org", OURS, subject=subject,
                              text=text) == (True, "ok")


def test_a_reply_states_a_code_in_its_own_words_only():
    ours, theirs, quoted = (new_code() for _ in range(3))
    text = (f"Wrong one, it is {theirs.lower().replace('-', ' ')}.\n\n"
            f"On Mon, 2 Jun 2026, videos@intake.example wrote:\n> filed under {ours}\n"
            f"> also {quoted}\n")
    assert own_words(text).startswith("Wrong one") and ours not in own_words(text)
    assert stated_codes(f"Re: Auto: received – {ours} Title", text, "HLH", [ours]) == [theirs]


def test_outlook_style_quotes_are_left_out():
    ours, theirs = new_code(), new_code()
    text = (f"Please use {theirs}\n\n________________________________\nFrom: Videos "
            f"<videos@intake.example>\nSent: Monday\nSubject: received\n\nfiled under {ours}")
    assert stated_codes("", text, "HLH") == [theirs]
    french = f"C'est {theirs}\n\nDe : videos@intake.example\nEnvoyé : lundi\n\n{ours}"
    assert stated_codes("", french, "HLH") == [theirs]


@pytest.mark.parametrize(("candidates", "expected"), [
    (("fr-CA", None), "fr"), (("Français",), "fr"), (("spa",), "es"), (("Español",), "es"),
    ((None, "es_ES"), "es"), (("ar", "fr"), "en"), (("Chinese",), "en"), ((None, None), "en"),
    (("??", "fr"), "fr"),
])
def test_language_choice(candidates, expected):
    assert choose_language(*candidates) == expected


def test_language_guess_from_the_text():
    assert guess_language("Bonjour, voici la vidéo de notre atelier avec les jeunes.") == "fr"
    assert guess_language("Hola, aquí está el vídeo de nuestro taller con los jóvenes.") == "es"
    assert guess_language("Hello, here is the video of our workshop with the young.") == "en"
    assert guess_language("video") is None


def test_texts_exist_for_every_kind_and_language():
    from intake.replies.texts import TEXTS

    keys = set(TEXTS["en"])
    for language, texts in TEXTS.items():
        assert set(texts) == keys, language
        for kind in ("matched", "unmatched", "correction"):
            subject, body = render(AckContent(kind, language, "HLH", subject="s", ref="HLH-1",
                                              title="t", moved="m", files=["a.mp4 (1 MB)"]))
            assert "\n" not in subject and body.endswith("\n")


def test_header_text_is_one_line():
    assert one_line("a\r\nBcc: x@y\u2028z\x00") == "a Bcc: x@y z"
    assert len(one_line("x" * 500, 100)) == 100
