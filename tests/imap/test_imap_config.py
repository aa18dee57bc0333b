"""Mailbox URLs and passwords: TLS by default, STARTTLS or plain only as written, no secrets."""

from __future__ import annotations

import pytest

from channels.imap import ImapError, parse_mailbox_url
from intake.config import ConfigError, load_settings
from intake.mail.imap import imap_options, mailbox_specs


def test_imaps_is_tls_with_verification_on_port_993():
    spec = parse_mailbox_url("imaps://bot@example.org@mail.example.org/INBOX", "pw")
    assert (spec.host, spec.port, spec.user, spec.folder) == (
        "mail.example.org", 993, "bot@example.org", "INBOX")
    assert spec.security == "tls" and spec.tls_verify
    assert spec.name == "imaps://bot@example.org@mail.example.org:993/INBOX"
    assert "pw" not in repr(spec)


def test_imap_means_starttls_unless_plain_is_asked_for():
    assert parse_mailbox_url("imap://u@h/INBOX").security == "starttls"
    assert parse_mailbox_url("imap://u@h/INBOX?starttls=1").security == "starttls"
    plain = parse_mailbox_url("imap://u@h:1143/Calls%202025?plain=1")
    assert (plain.security, plain.port, plain.folder) == ("plain", 1143, "Calls 2025")
    with pytest.raises(ImapError, match="plain=1"):
        parse_mailbox_url("imap://u@h/INBOX?starttls=0")
    with pytest.raises(ImapError, match="imaps://"):
        parse_mailbox_url("imaps://u@h/INBOX?starttls=1")


def test_a_password_in_the_url_is_refused_and_not_echoed():
    with pytest.raises(ImapError) as caught:
        parse_mailbox_url("imaps://u:hunter2@h/INBOX")
    assert "hunter2" not in str(caught.value)
    assert "INTAKE_IMAP_PASSWORD" in str(caught.value)


def test_bad_urls_are_named(tmp_path):
    for url, words in (("pop3://u@h/", "imaps://"), ("imaps://h/INBOX", "user"),
                       ("imaps://u@h/INBOX?foo=1", "foo"), ("imaps://u@h:99999/", "port")):
        with pytest.raises(ImapError, match=words):
            parse_mailbox_url(url)


def test_passwords_from_setting_file_and_per_mailbox_file(tmp_path):
    shared = tmp_path / "imap.pw"
    shared.write_text("from-file\n")
    own = tmp_path / "own.pw"
    own.write_text("own-secret")
    settings = load_settings({}, data_dir=tmp_path, imap_password_file=shared, imap_urls=(
        f"imaps://a@h/INBOX, imaps://b@h/INBOX?password_file={own}&tls_verify=0"))
    first, second = mailbox_specs(settings)
    assert first.password == "from-file" and first.tls_verify
    assert second.password == "own-secret" and not second.tls_verify


def test_settings_problems_are_config_errors(tmp_path):
    settings = load_settings({}, data_dir=tmp_path, imap_urls="imaps://a@h/INBOX,imaps://a@h:993/")
    with pytest.raises(ConfigError, match="twice"):
        mailbox_specs(settings)
    missing = load_settings({}, data_dir=tmp_path, imap_urls="imaps://a@h/",
                            imap_password_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match="password file"):
        mailbox_specs(missing)
    tls_off = load_settings({"INTAKE_IMAP_TLS_VERIFY": "0", "INTAKE_IMAP_URLS": "imaps://a@h/"})
    assert not mailbox_specs(tls_off)[0].tls_verify


def test_the_keyword_must_be_a_plain_imap_atom(tmp_path):
    assert imap_options(load_settings({}, imap_keyword="$Intake_OK")).keyword == "$Intake_OK"
    with pytest.raises(ConfigError, match="INTAKE_IMAP_KEYWORD"):
        imap_options(load_settings({}, imap_keyword="Intake OK"))
