"""IMAP intake throughput vs a bare imapclient loop over the same Dovecot mailbox, in one run.

Run by hand, as root, with dovecot-imapd installed:  python bench/imap_bench.py [--count N]
Prints messages per second for both and their ratio (target: intake/bare >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imapclient import IMAPClient  # noqa: E402

from intake.config import load_settings  # noqa: E402
from intake.context import build_context  # noqa: E402
from intake.mail.imap import load_checkpoint, start_pollers, stop_pollers  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests.imap.dovecot import Dovecot, dovecot_problem  # noqa: E402


def message(number: int, size: int) -> bytes:
    """A plain mail with a base64 attachment of about `size` bytes, its own Message-ID."""
    payload = base64.encodebytes(os.urandom(max(0, size * 3 // 4))).replace(b"\n", b"\r\n")
    return (
        f"From: sender{number % 50}@example.net\r\nTo: call@example.org\r\n"
        f"Subject: Practice video {number}\r\nMessage-ID: <bench-{number}@example.net>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        "--XX\r\nContent-Type: text/plain\r\n\r\nHere is our video.\r\n"
        "--XX\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename=v{number}.bin\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + payload + b"--XX--\r\n"


def seed(dovecot: Dovecot, count: int, size: int) -> None:
    client = dovecot.client()
    try:
        for start in range(0, count, 200):  # MULTIAPPEND: one command, many messages
            client.multiappend("INBOX", [message(n, size)
                                         for n in range(start, min(count, start + 200))])
    finally:
        client.logout()


def bare_loop(dovecot: Dovecot, batch: int) -> tuple[int, float]:
    """The floor: search all UIDs, fetch BODY.PEEK[] in batches, keep nothing."""
    started = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=120)
    client.login("bot@example.org", "secret")
    client.select_folder("INBOX")
    uids = sorted(client.search(["UID", "1:*"]))
    count = 0
    for start in range(0, len(uids), batch):
        data = client.fetch(uids[start:start + batch], ["BODY.PEEK[]", "INTERNALDATE"])
        count += sum(1 for entry in data.values() if b"BODY[]" in entry)
    client.logout()
    return count, time.perf_counter() - started


async def intake_run(dovecot: Dovecot, folder: Path, count: int, batch: int) -> float:
    """intake's own poller (accept path, SQLite, filesystem blobs) until the checkpoint ends."""
    settings = load_settings({}, data_dir=folder / "data", imap_urls=[dovecot.url()],
                             imap_password="secret", imap_batch=batch, imap_poll_seconds=600)
    ctx = build_context(settings)
    await upgrade(ctx.db)
    started = time.perf_counter()
    pollers = start_pollers(ctx)
    name = pollers[0].spec.name
    try:
        while (await load_checkpoint(ctx, name)).get("last_uid", 0) < count:
            if pollers[0].last_error:
                raise SystemExit(f"poller failed: {pollers[0].last_error}")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        await stop_pollers(pollers)
        await ctx.close()
    return elapsed


PROFILES = [(2000, 20_000), (100, 2_000_000)]  # many small mails; fewer with a video


def run(count: int, size: int, batch: int) -> tuple[float, float]:
    """One side-by-side run on a fresh Dovecot: (bare msg/s, intake msg/s)."""
    dovecot = Dovecot()
    try:
        dovecot.start()
        seed(dovecot, count, size)
        bare_loop(dovecot, batch)  # warm Dovecot's caches so both runs read alike
        got, bare_seconds = bare_loop(dovecot, batch)
        with tempfile.TemporaryDirectory() as folder:
            intake_seconds = asyncio.run(intake_run(dovecot, Path(folder), count, batch))
    finally:
        dovecot.cleanup()
    return got / bare_seconds, count / intake_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="messages (default: both built-in profiles)")
    parser.add_argument("--size", type=int, default=20_000, help="attachment bytes per message")
    parser.add_argument("--batch", type=int, default=200, help="INTAKE_IMAP_BATCH (its default)")
    args = parser.parse_args()
    problem = dovecot_problem()
    if problem:
        print(f"skipped: {problem}")
        return 1
    profiles = [(args.count, args.size)] if args.count else PROFILES
    print(f"{'messages':>9} {'attachment':>11} {'bare msg/s':>11} {'intake msg/s':>13} "
          f"{'ratio':>6}")
    for count, size in profiles:
        bare, ours = run(count, size, args.batch)
        print(f"{count:>9} {size // 1000:>8} kB {bare:>11.1f} {ours:>13.1f} {ours / bare:>6.2f}",
              flush=True)
    print("ratio = intake / bare imapclient BODY.PEEK[] loop (target >= 0.5); "
          "intake = poller + accept (SQLite commit; raw over 64 KiB an fsync'd blob) + flags + "
          "checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
