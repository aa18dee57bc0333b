"""`intake media fetch ID` and `intake media links`: fetch a link medium again, list fetches."""

from __future__ import annotations

import argparse
import json
import sys

from intake.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    media = sub.add_parser("media", help="media of items: fetch linked files")
    verbs = media.add_subparsers(dest="media_command", required=True)
    fetch = verbs.add_parser("fetch", help="fetch the file behind a link medium here and now")
    fetch.add_argument("id", type=int, help="the link medium's id (the item page shows it)")
    fetch.add_argument("--json", action="store_true")
    fetch.set_defaults(func=cmd_fetch)
    links = verbs.add_parser("links", help="link fetches and their state")
    links.add_argument("--status", choices=("pending", "fetched", "failed"))
    links.add_argument("--json", action="store_true")
    links.set_defaults(func=cmd_links)


def _row(row) -> dict:  # noqa: ANN001 - store.models.LinkFetch
    from intake.links.errors import describe

    return {"media_id": row.media_id, "url": row.url, "provider": row.provider,
            "status": row.status, "reason": row.reason, "why": describe(row.reason),
            "error": row.error, "attempts": row.attempts, "size": row.size,
            "fetched_at": row.fetched_at.isoformat() if row.fetched_at else None,
            "file_media_id": row.file_media_id}


def _human(row: dict) -> str:
    state = row["status"]
    if row["status"] == "fetched":
        state += f" {row['size']} bytes (medium {row['file_media_id']})"
    elif row["reason"]:
        state += f": {row['why']}"
    return f"{row['media_id']:>6}  {row['provider']:12} {state}\n        {row['url']}"


async def cmd_fetch(ctx: Context, args: argparse.Namespace) -> int:
    from intake.links.fetcher import LinkFetcher
    from intake.media.videos import install_video_details
    from intake.review.actions import ReviewError

    install_video_details(ctx)  # a fetched video gets its details here too
    try:
        row = _row(await LinkFetcher(ctx).fetch_now(args.id, "cli"))
    except ReviewError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(row, indent=2) if args.json else _human(row))
    return 0 if row["status"] == "fetched" else 2


async def cmd_links(ctx: Context, args: argparse.Namespace) -> int:
    from store.links import list_fetches

    rows, after = [], 0
    while True:
        async with ctx.db.reader()() as session:
            batch = await list_fetches(session, args.status, after, 1000)
        if not batch:
            break
        rows += [_row(r) for r in batch]
        after = batch[-1].id
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for row in rows:
            print(_human(row))
    return 0
