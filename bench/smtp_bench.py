"""Durable accepts per second of 1 MB messages: `intake serve --only smtp` vs a bare aiosmtpd
handler that only writes and fsyncs the bytes, same client, same run. Prints both and the
ratio (issue #15's target: at least 2).

    python bench/smtp_bench.py [--messages 200] [--clients 4] [--size 1000000]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import start_bare, start_intake  # noqa: E402


def message(n: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "v@intake.example", f"clip {n}"
    msg["Message-ID"] = f"<bench-{n}-{os.getpid()}-{time.time_ns()}@example.org>"
    msg.set_content("our video")
    msg.add_attachment(os.urandom(int(size / 1.37)), maintype="video", subtype="mp4",
                       filename=f"clip{n}.mp4")
    return msg.as_bytes(policy=SMTP_POLICY)


def deliver(port: int, messages: list[bytes], clients: int) -> float:
    """Messages per second, each client on its own connection, one message per session."""
    def send(raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            client.sendmail("a@example.org", ["v@intake.example"], raw)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, messages))
    return len(messages) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare, bare_port = start_bare(root / "bare")
        intake, smtp_port, _ = start_intake(root / "data", "smtp")
        try:
            rows = []
            for round_ in range(args.rounds):  # interleaved, so load swings hit both
                batch = [message(n + round_ * args.messages, args.size)
                         for n in range(args.messages)]
                base = deliver(bare_port, batch, args.clients)
                ours = deliver(smtp_port, batch, args.clients)
                rows.append((base, ours))
                print(f"round {round_ + 1}: bare {base:7.1f} msg/s   intake {ours:7.1f} msg/s"
                      f"   ratio {ours / base:.2f}")
        finally:
            for process in (bare, intake):
                process.terminate()
                process.wait()
    base = sorted(r[0] for r in rows)[len(rows) // 2]
    ours = sorted(r[1] for r in rows)[len(rows) // 2]
    print(f"median: bare {base:.1f} msg/s, intake {ours:.1f} msg/s, ratio {ours / base:.2f} "
          f"(target >= 2); {args.messages} x {len(batch[0]) / 1e6:.2f} MB, "
          f"{args.clients} clients")


if __name__ == "__main__":
    main()
