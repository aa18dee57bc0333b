"""WhatsApp webhook throughput: signed POSTs stored per second vs a bare signature-checking
aiohttp handler.

Run by hand:  python bench/whatsapp_bench.py [--count N] [--clients C] [--rounds R]
              [--data-dir /dev/shm] [--database-url postgresql+asyncpg://...]
Both servers listen on 127.0.0.1 and get the same N signed payloads (one text message each,
as Meta sends one per POST for a chat at a time) from C concurrent clients. The baseline
checks X-Hub-Signature-256 and answers 200; intake's real web app (its middlewares, the
webhook) answers 200 only once the message is committed through accept. Prints POSTs per
second for both and their ratio (target: intake/bare >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from channels.whatsapp import SIGNATURE_HEADER, signature_ok  # noqa: E402
from intake.config import load_settings  # noqa: E402
from intake.context import build_context  # noqa: E402
from intake.web import build_app  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Item  # noqa: E402
from tests.whatsapp import payloads as wa  # noqa: E402


def bodies(count: int, round_no: int) -> list[tuple[bytes, dict]]:
    """N signed one-message payloads from 50 senders, new wamids each round."""
    return [wa.signed(wa.payload(wa.value([wa.text(
        f"Practice note number {n}", sender=f"2250700{n % 50:04d}",
        ident=f"wamid.BENCH{round_no:03d}{n:07d}")])))
        for n in range(count)]


async def bare_app() -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        ok = signature_ok(wa.APP_SECRET, request.headers.get(SIGNATURE_HEADER), body)
        return web.Response(status=200 if ok else 401)

    app = web.Application(client_max_size=3 * 1024 * 1024)
    app.router.add_post("/whatsapp/webhook", hook)
    return app


async def run_server(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0 → real port
    return runner, f"http://127.0.0.1:{port}/whatsapp/webhook"


async def blast(url: str, payloads: list[tuple[bytes, dict]], clients: int) -> float:
    """POST them all from `clients` connections; POSTs per second (all must answer 200)."""
    todo = iter(payloads)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            for body, headers in todo:
                async with http.post(url, data=body, headers=headers) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"answered {answer.status}: {await answer.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return len(payloads) / (time.perf_counter() - started)


async def measure(args: argparse.Namespace, data_dir: Path) -> tuple[list[float], list[float]]:
    settings = load_settings({}, data_dir=data_dir, database_url=args.database_url,
                             whatsapp_verify_token=wa.VERIFY_TOKEN,
                             whatsapp_app_secret=wa.APP_SECRET, smtp_enabled=False)
    ctx = build_context(settings)
    await upgrade(ctx.db)
    bare_runner, bare_url = await run_server(await bare_app())
    intake_runner, intake_url = await run_server(build_app(ctx))
    bare, ours = [], []
    try:
        for round_no in range(args.rounds):
            payloads = bodies(args.count, round_no)
            bare.append(await blast(bare_url, payloads, args.clients))
            ours.append(await blast(intake_url, payloads, args.clients))
        async with ctx.db.reader()() as session:
            stored = await session.scalar(select(func.count()).select_from(Item))
        if stored != args.count * args.rounds and not getattr(args, "noop", False):
            raise RuntimeError(f"{stored} items stored, {args.count * args.rounds} sent")
    finally:
        await bare_runner.cleanup()
        await intake_runner.cleanup()
        await ctx.close()
    return bare, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        bare, ours = asyncio.run(measure(args, Path(tmp)))
    b, o = statistics.median(bare), statistics.median(ours)
    print(json.dumps({"count": args.count, "clients": args.clients, "rounds": args.rounds,
                      "bare_posts_per_s": round(b, 1), "intake_posts_per_s": round(o, 1),
                      "ratio": round(o / b, 2), "target": 0.5}))


if __name__ == "__main__":
    main()
