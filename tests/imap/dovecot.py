"""A private Dovecot on 127.0.0.1 for tests and benchmarks: start, stop, restart, seed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = Path("/usr/sbin/dovecot")
USERS = {"bot@example.org": "secret", "other@example.org": "other-secret"}

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_max_userip_connections = 100
imap_max_line_length = 1M
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
"""


def dovecot_problem() -> str | None:
    """Why a private Dovecot cannot run here, or None."""
    if not DOVECOT.exists():
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the private Dovecot needs root (its login process drops to dovenull)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 (it is its own CA), or None without openssl."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class Dovecot:
    """One Dovecot instance with its own folder, ports and users; stop() it by its PID."""

    def __init__(self, tls: bool = False, extra: str = "") -> None:
        # A short path: Dovecot's unix sockets live under base_dir (108-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        self.root.chmod(0o755)  # the login process (dovenull) must reach base_dir
        self.port = free_port()
        self.tls_port = free_port()
        self.cert: Path | None = None
        self.process: subprocess.Popen | None = None
        ssl = "ssl = no"
        if tls:
            pair = make_certificate(self.root)
            if pair:
                self.cert = pair[0]
                ssl = f"ssl = yes\nssl_cert = <{pair[0]}\nssl_key = <{pair[1]}"
        (self.root / "users").write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in USERS.items()))
        (self.root / "mail").mkdir()
        shutil.chown(self.root / "mail", "nobody", "nogroup")
        self.config = self.root / "dovecot.conf"
        self.config.write_text(CONFIG.format(root=self.root, port=self.port,
                                             tls_port=self.tls_port if tls else 0, ssl=ssl)
                               + extra + "\n")

    def url(self, user: str = "bot@example.org", folder: str = "INBOX",
            query: str = "plain=1") -> str:
        return f"imap://{user}@127.0.0.1:{self.port}/{folder}" + (f"?{query}" if query else "")

    def start(self, timeout: float = 20) -> None:
        self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode()}"
                                   f"\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on {self.port}\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self, user: str = "bot@example.org"):  # noqa: ANN201 - an IMAPClient
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=60)
        client.login(user, USERS[user])
        return client

    def append(self, messages: list[bytes], folder: str = "INBOX",
               user: str = "bot@example.org") -> None:
        client = self.client(user)
        try:
            for raw in messages:
                client.append(folder, raw)
        finally:
            client.logout()
