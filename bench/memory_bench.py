"""Peak memory while receiving and processing big video mail, and the longest event-loop stall
of the serving process meanwhile (issue #15's targets).

1. `intake serve --only smtp,web` receiving 16 messages of 50 MB at once: peak RSS added.
2. One 200 MB message with a 190 MB video: peak RSS added by the SMTP+web process while
   receiving it, and by the worker (with its parsing process) while processing it; the
   slowest /healthz answer while receiving, next to the same figure at rest (same run).
3. With --gb: one 1 GB message, INTAKE_SMTP_MAX_BYTES=2000000000: accepted, processed, and
   the video stored with the right sha256; memory as above.

The messages are written to disk and sent from there by a bare SMTP client on a socket, so
the benchmark's own memory stays flat. RSS is sampled with psutil every 5 ms over the
process and its children, less the RSS before the message.

    python bench/memory_bench.py [--concurrent 16] [--each-mb 50] [--big-mb 200] [--gb]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import start_intake  # noqa: E402

RAW_CHUNK = 57 * 16 * 1024  # a multiple of 57: whole base64 lines of 76 characters
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


class Sampler(threading.Thread):
    """Peak RSS of a process tree above its starting point."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.base = self.rss()
        self.peak = self.base
        self.running = True

    def rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):  # a child that just ended
                total += proc.memory_info().rss
        return total

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.005)

    def stop(self) -> float:
        self.running = False
        self.join()
        return (self.peak - self.base) / 1e6


class Prober(threading.Thread):
    """The slowest /healthz answer while running: an outside view of event-loop stalls."""

    def __init__(self, port: int, path: str = "/healthz") -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}{path}"
        self.slowest = 0.0
        self.running = True

    def run(self) -> None:
        while self.running:
            start = time.perf_counter()
            urllib.request.urlopen(self.url, timeout=30).read()
            self.slowest = max(self.slowest, time.perf_counter() - start)
            time.sleep(0.002)

    def stop(self) -> float:
        self.running = False
        self.join()
        return self.slowest * 1000


def write_message(path: Path, video_bytes: int) -> str:
    """A message with one video of video_bytes random bytes, CRLF lines; the video's sha256."""
    sha = hashlib.sha256()
    with path.open("wb") as out:
        out.write(b"From: a@example.org\r\nTo: v@intake.example\r\nSubject: big video\r\n"
                  b"Message-ID: <" + os.urandom(8).hex().encode() + b"@bench.example>\r\n"
                  b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                  b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nour video\r\n"
                  b"--b1\r\nContent-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n"
                  b"Content-Disposition: attachment; filename=\"big.mp4\"\r\n\r\n")
        left = video_bytes
        while left > 0:
            chunk = os.urandom(min(RAW_CHUNK, left))
            if left == video_bytes:
                chunk = MP4_HEAD + chunk[len(MP4_HEAD):]
            left -= len(chunk)
            sha.update(chunk)
            out.write(base64.encodebytes(chunk).replace(b"\n", b"\r\n"))
        out.write(b"--b1--\r\n")
    return sha.hexdigest()


def _reply(lines) -> bytes:  # noqa: ANN001 - a socket file
    while True:
        line = lines.readline()
        if not line or line[3:4] != b"-":
            return line


def send_file(port: int, path: Path) -> bytes:
    """Deliver the message in path over SMTP, read from disk by the MiB; the final reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        lines = sock.makefile("rb")
        _reply(lines)
        for command in (b"EHLO bench\r\n", b"MAIL FROM:<a@example.org>\r\n",
                        b"RCPT TO:<v@intake.example>\r\n", b"DATA\r\n"):
            sock.sendall(command)
            _reply(lines)
        with path.open("rb") as message:
            while chunk := message.read(1 << 20):
                sock.sendall(chunk)
        sock.sendall(b".\r\n")  # the message ends with CRLF
        reply = _reply(lines)
        sock.sendall(b"QUIT\r\n")
        return reply


def wait_processed(data_dir: Path, count: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(data_dir / "intake.db")) as db:
            done = db.execute("SELECT count(*) FROM items WHERE status != 'received'").fetchone()
        if done[0] >= count:
            return
        time.sleep(0.1)
    raise SystemExit("the worker did not finish")


def stored_video(data_dir: Path) -> tuple[str, int]:
    with contextlib.closing(sqlite3.connect(data_dir / "intake.db")) as db:
        return db.execute("SELECT sha256, size FROM media WHERE kind != 'link' "
                          "ORDER BY size DESC").fetchone()


def concurrent_smtp(root: Path, clients: int, each_mb: float) -> None:
    message = root / "each.eml"
    write_message(message, int(each_mb * 1e6 / 1.37))
    data = root / "concurrent"
    serve, smtp_port, _ = start_intake(data, "smtp,web", INTAKE_SMTP_MAX_BYTES="60000000")
    try:
        time.sleep(1)
        sampler = Sampler(serve.pid)
        sampler.start()
        with ThreadPoolExecutor(clients) as pool:
            replies = list(pool.map(lambda _n: send_file(smtp_port, message), range(clients)))
        added = sampler.stop()
    finally:
        serve.terminate()
        serve.wait()
    assert all(r.startswith(b"250") for r in replies), replies
    size = message.stat().st_size / 1e6
    print(f"{clients} concurrent x {size:.1f} MB: serve (smtp,web) peak +{added:.1f} MB "
          f"(target <= 128 MB; aiosmtpd alone buffers ~4x: ~{4 * clients * size:.0f} MB)")


def one_big(root: Path, video_mb: float, label: str, **env: str) -> None:
    message = root / f"{label}.eml"
    video_sha = write_message(message, int(video_mb * 1e6))
    data = root / label
    serve, smtp_port, web_port = start_intake(data, "smtp,web", **env)
    worker, _, _ = start_intake(data, "worker", **env)
    try:
        time.sleep(1)
        # /healthz also writes a file and reads the database, so it waits on a disk busy
        # with the message too; /signin is a page from memory: the event loop alone.
        rest, rest_page = Prober(web_port), Prober(web_port, "/signin")
        rest.start()
        rest_page.start()
        time.sleep(3)
        at_rest, page_at_rest = rest.stop(), rest_page.stop()
        serve_rss, prober, page = Sampler(serve.pid), Prober(web_port), Prober(web_port, "/signin")
        serve_rss.start()
        prober.start()
        page.start()
        started = time.perf_counter()
        reply = send_file(smtp_port, message)
        received = time.perf_counter() - started
        slowest, slowest_page, serve_added = prober.stop(), page.stop(), serve_rss.stop()
        worker_rss = Sampler(worker.pid)
        worker_rss.start()
        started = time.perf_counter()
        wait_processed(data, 1)
        processed = time.perf_counter() - started
        worker_added = worker_rss.stop()
    finally:
        for process in (serve, worker):
            process.terminate()
            process.wait()
    sha, size = stored_video(data)
    print(f"{label}: {message.stat().st_size / 1e6:.0f} MB message, {reply.decode().strip()}, "
          f"received in {received:.1f} s, processed in {processed:.1f} s; video stored "
          f"{size / 1e6:.0f} MB, sha256 {'right' if sha == video_sha else 'WRONG'}")
    print(f"  serve (smtp,web) peak +{serve_added:.1f} MB; worker (+ parsing process) peak "
          f"+{worker_added:.1f} MB (target <= 100 MB)")
    print(f"  slowest /healthz while receiving {slowest:.0f} ms, at rest {at_rest:.0f} ms "
          f"(target <= rest + 20 ms); slowest /signin {slowest_page:.0f} ms, at rest "
          f"{page_at_rest:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--each-mb", type=float, default=50)
    parser.add_argument("--big-mb", type=float, default=190, help="video size of the big one")
    parser.add_argument("--gb", action="store_true", help="also a 1 GB message (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        concurrent_smtp(root, args.concurrent, args.each_mb)
        one_big(root, args.big_mb, "big", INTAKE_SMTP_MAX_BYTES="300000000")
        if args.gb:
            one_big(root, 730, "1gb", INTAKE_SMTP_MAX_BYTES="2000000000")


if __name__ == "__main__":
    main()
