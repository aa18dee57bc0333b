"""The relay settings: STARTTLS with a login, implicit TLS, plain local relay, bad URLs."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult

from intake.config import ConfigError
from intake.replies.mailer import SendFailure, parse_relay, send
from tests.acks.conftest import Sink
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class Login:
    def __init__(self) -> None:
        self.seen: list[tuple[bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN204
        self.seen.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"acks@intake.example", b"s3cret pw")
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


async def _server(sink: Sink, **smtp_options):  # noqa: ANN003, ANN202
    implicit = smtp_options.pop("implicit_tls", None)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="relay.localhost", **smtp_options), "127.0.0.1", 0,
        ssl=implicit)
    sink.port = server.sockets[0].getsockname()[1]
    return server


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.org", "b@y.org", "hi"
    message.set_content("hello")
    return message


def _tls(cert, key) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_starttls_and_login_with_a_password_file(tmp_path, sqlite_url, certificate,
                                                       monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # our relay's CA, as an operator would
    sink, login = Sink(), Login()
    server = await _server(sink, tls_context=_tls(cert, key), require_starttls=True,
                           authenticator=login, auth_required=True)
    secret = tmp_path / "relay-password"
    secret.write_text("s3cret pw\n")
    settings = make_settings(tmp_path, sqlite_url, smtp_relay_password_file=secret,
                             smtp_relay_url=f"smtp://acks%40intake.example@127.0.0.1:{sink.port}")
    relay = parse_relay(settings)
    assert relay.start_tls and not relay.use_tls and "s3cret" not in repr(relay)
    try:
        await send(relay, _message(), "a@x.org", "b@y.org")
    finally:
        server.close()
        await server.wait_closed()
    assert login.seen == [(b"acks@intake.example", b"s3cret pw")]
    assert [r.rcpt_tos for r in sink.received] == [["b@y.org"]]


# aiosmtpd cannot see the implicit TLS under it and warns about AUTH without TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_and_a_wrong_password(tmp_path, sqlite_url, certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sink, login = Sink(), Login()
    server = await _server(sink, implicit_tls=_tls(cert, key), authenticator=login,
                           auth_required=True, auth_require_tls=False)
    settings = make_settings(tmp_path, sqlite_url, smtp_relay_password="wrong",
                             smtp_relay_url=f"smtps://acks%40intake.example@127.0.0.1:{sink.port}")
    relay = parse_relay(settings)
    assert relay.use_tls and not relay.start_tls
    try:
        with pytest.raises(SendFailure) as failure:
            await send(relay, _message(), "a@x.org", "b@y.org")
    finally:
        server.close()
        await server.wait_closed()
    assert not failure.value.permanent  # credentials can be fixed: the message waits
    assert login.seen and sink.received == []


async def test_an_untrusted_certificate_is_refused(tmp_path, sqlite_url, certificate):
    cert, key = certificate  # not in SSL_CERT_FILE this time
    sink = Sink()
    server = await _server(sink, tls_context=_tls(cert, key), require_starttls=True)
    settings = make_settings(tmp_path, sqlite_url,
                             smtp_relay_url=f"smtp://127.0.0.1:{sink.port}?starttls=yes")
    try:
        with pytest.raises(SendFailure):
            await send(parse_relay(settings), _message(), "a@x.org", "b@y.org")
    finally:
        server.close()
        await server.wait_closed()
    assert sink.received == []


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://relay.example", ("relay.example", 25, None, False, False)),
    ("smtp://relay.example:587", ("relay.example", 587, None, False, True)),
    ("smtp://u@relay.example", ("relay.example", 587, "u", False, True)),
    ("smtps://u@relay.example", ("relay.example", 465, "u", True, False)),
    ("smtp://127.0.0.1:2525?starttls=yes", ("127.0.0.1", 2525, None, False, True)),
])
def test_relay_urls(tmp_path, sqlite_url, url, expected):
    relay = parse_relay(make_settings(tmp_path, sqlite_url, smtp_relay_url=url,
                                      smtp_relay_password="pw"))
    assert (relay.host, relay.port, relay.username, relay.use_tls, relay.start_tls) == expected


@pytest.mark.parametrize("url", ["http://relay", "smtp://", "smtp://relay:port",
                                 "smtp://u@relay:25?starttls=no"])
def test_bad_relay_urls(tmp_path, sqlite_url, url):
    with pytest.raises(ConfigError):
        parse_relay(make_settings(tmp_path, sqlite_url, smtp_relay_url=url,
                                  smtp_relay_password="pw"))
