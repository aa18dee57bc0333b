"""Peak memory while accepting and processing one 40 MB message, as a multiple of its size,
and the longest event-loop stall of the serving process meanwhile.

The serving process (`intake serve --only smtp,web`) and the worker (`--only worker`, with
its parsing child) run apart so each is measured alone. RSS is sampled with psutil every
5 ms over the process and its children, less the RSS before the message. The stall is
read from outside: /healthz is fetched back to back and the slowest answer is reported
next to the same figure measured at rest, in the same run.

    python bench/memory_bench.py [--mb 40]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import smtplib
import sys
import tempfile
import threading
import time
import urllib.request
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import start_intake  # noqa: E402


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


class Prober(threading.Thread):
    """The slowest /healthz answer while running: an outside view of event-loop stalls."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.slowest = 0.0
        self.running = True

    def run(self) -> None:
        while self.running:
            start = time.perf_counter()
            urllib.request.urlopen(self.url, timeout=30).read()
            self.slowest = max(self.slowest, time.perf_counter() - start)
            time.sleep(0.002)


def big_message(mb: float) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "v@intake.example", "big video"
    msg.set_content("our video")
    msg.add_attachment(os.urandom(int(mb * 1e6 / 1.37)), maintype="video", subtype="mp4",
                       filename="big.mp4")
    return msg.as_bytes(policy=SMTP_POLICY)


def rest_stall(port: int, seconds: float = 3.0) -> float:
    prober = Prober(port)
    prober.start()
    time.sleep(seconds)
    prober.running = False
    prober.join()
    return prober.slowest


def wait_processed(data_dir: Path, timeout: float = 600) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(data_dir / "intake.db") as db:
            row = db.execute("SELECT status FROM items").fetchone()
        if row and row[0] != "received":
            return
        time.sleep(0.05)
    raise SystemExit("the worker did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=40)
    args = parser.parse_args()
    raw = big_message(args.mb)
    size = len(raw)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        serve, smtp_port, web_port = start_intake(data, "smtp,web")
        worker, _, _ = start_intake(data, "worker")  # waits for its (unused) web port: none
        try:
            at_rest = rest_stall(web_port)
            serve_rss, prober = Sampler(serve.pid), Prober(web_port)
            serve_rss.start()
            prober.start()
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=300) as client:
                client.sendmail("a@example.org", ["v@intake.example"], raw)
            prober.running = serve_rss.running = False
            worker_rss = Sampler(worker.pid)
            worker_rss.start()
            wait_processed(data)
            worker_rss.running = False
        finally:
            for process in (serve, worker):
                process.terminate()
                process.wait()
    print(f"message: {size / 1e6:.1f} MB")
    print(f"serve  peak +{(serve_rss.peak - serve_rss.base) / 1e6:6.1f} MB = "
          f"{(serve_rss.peak - serve_rss.base) / size:.1f}x  (target <= 5x)")
    print(f"worker peak +{(worker_rss.peak - worker_rss.base) / 1e6:6.1f} MB = "
          f"{(worker_rss.peak - worker_rss.base) / size:.1f}x  (target <= 8x; "
          "includes the parsing process)")
    print(f"slowest /healthz while receiving {prober.slowest * 1000:.0f} ms, at rest "
          f"{at_rest * 1000:.0f} ms (target stall <= 100 ms)")


if __name__ == "__main__":
    main()
