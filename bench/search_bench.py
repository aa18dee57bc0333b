"""Brief search (the item page's box) over 100,000 briefs, SQLite beside PostgreSQL.

Run by hand:  python bench/search_bench.py [--briefs 100000] [--queries 50]
Baseline, measured in the same run on the same rows: the search as it was (lower(title)
LIKE '%text%', no accents folded). intake: search_briefs with the normalised word-start
LIKE over briefs.search_text, plus the lenient code reading. Prints p50/p95 in ms of
brief_search_view (20 results) per query kind; a throwaway PostgreSQL database is created
and dropped (INTAKE_TEST_PG).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select  # noqa: E402

from intake.config import load_settings  # noqa: E402
from intake.context import build_context  # noqa: E402
from intake.review.search import brief_words  # noqa: E402
from intake.review.views import brief_search_view  # noqa: E402
from parsers.refcode import new_code  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Brief  # noqa: E402
from tests.conftest import PG_ADMIN, pg_admin  # noqa: E402

WORDS = ("vacunación escuela diabetes salud agua clínica mujeres jóvenes radio energía "  # noqa: SIM905
         "water school solar garden lamp farm rain teacher village health seeds market").split()


def rows(n: int) -> list[dict]:
    rng, now = random.Random(7), datetime.now(UTC)
    out, taken = [], set()
    for i in range(1, n + 1):
        ref = new_code("HLH", rng)
        while ref in taken:  # 31^5 codes: 100k draws do collide
            ref = new_code("HLH", rng)
        taken.add(ref)
        brief = Brief(ref=ref, title=" ".join(
            rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize(),
            email=f"person{i}@example.org", response_id=f"r{i}")
        out.append({"id": i, "ref": brief.ref, "title": brief.title, "email": brief.email,
                    "response_id": brief.response_id, "search_text": brief_words(brief),
                    "contacts": [], "extra": {}, "source": "survey", "created_at": now,
                    "updated_at": now})
    return out


async def old_search(ctx, text: str) -> list:  # noqa: ANN001
    needle = f"%{text.casefold()}%"
    async with ctx.db.reader()() as session:
        query = select(Brief.id).where(func.lower(Brief.title).like(needle)).order_by(
            Brief.id).limit(20)
        return list(await session.scalars(query))


async def timed(call, queries: list[str]) -> tuple[float, float]:  # noqa: ANN001
    times = []
    for q in queries:
        start = time.perf_counter()
        await call(q)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def run(url: str, label: str, n: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"INTAKE_DATA_DIR": tmp, **({"INTAKE_DATABASE_URL": url}
                                                             if url else {})})
        ctx = build_context(settings)
        try:
            await upgrade(ctx.db)
            data = rows(n)
            async with ctx.db.writer()() as session, session.begin():
                for at in range(0, n, 5000):
                    await session.execute(insert(Brief.__table__), data[at:at + 5000])
            rng = random.Random(3)
            refs = [rng.choice(data)["ref"] for _ in range(count)]
            kinds = {
                "rare word, accents folded (vacunacion)": ["vacunacion"] * count,
                "word start (diabet)": ["diabet"] * count,
                "two words (salud escuel)": ["salud escuel"] * count,
                "no match (zzzz)": ["zzzz"] * count,
                "code typed loosely (hlh abcde f)": [r.lower().replace("-", " ") for r in refs],
            }
            for kind, queries in kinds.items():
                p50, p95 = await timed(lambda q: brief_search_view(ctx, q), queries)
                b50, b95 = await timed(lambda q: old_search(ctx, q), queries)
                print(f"{label:10} {kind:40} old p50 {b50:6.1f} p95 {b95:6.1f} | "
                      f"now p50 {p50:6.1f} p95 {p95:6.1f} ms | ratio p50 {p50 / b50:4.1f}")
        finally:
            await ctx.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    await run("", "SQLite", args.briefs, args.queries)
    name = f"intake_bench_{uuid.uuid4().hex[:8]}"
    try:
        await pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the SQLite figures still stand
        print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")
        return
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        await run(f"{base}/{name}", "PostgreSQL", args.briefs, args.queries)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
