"""`intake briefs links [--json|--csv]`: every brief's code with its mailto:, Telegram and WhatsApp
links."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from intake.context import Context


def _briefs_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The `briefs` command's own subcommands (cli.py builds them before the extensions)."""
    briefs = sub.choices["briefs"]
    return next(a for a in briefs._actions if isinstance(a, argparse._SubParsersAction))


def register(sub: argparse._SubParsersAction) -> None:
    links = _briefs_subparsers(sub).add_parser(
        "links", help="every brief's code, mailto: link and Telegram deep link")
    form = links.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")
    links.set_defaults(func=cmd_links)


async def all_links(ctx: Context) -> list[dict]:
    from intake.media.links import brief_links
    from store.exports import briefs_after

    out, after = [], 0
    while True:
        async with ctx.db.reader()() as session:
            briefs = await briefs_after(session, after, 1000)
        if not briefs:
            return out
        out += [brief_links(ctx.settings, b.ref, b.title or "") for b in briefs]
        after = briefs[-1].id


COLUMNS = ("ref", "title", "mailto", "telegram", "whatsapp")


async def cmd_links(ctx: Context, args: argparse.Namespace) -> int:
    from intake.media.export import csv_cell

    links = await all_links(ctx)
    if args.json:
        json.dump(links, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(list(COLUMNS))
        for row in links:
            writer.writerow([csv_cell(row[k]) for k in COLUMNS])
    else:
        for row in links:
            print(f"{row['ref']:13} {(row['title'] or '')[:50]}")
            for key in COLUMNS[2:]:
                if row[key]:
                    print(f"    {row[key]}")
    if links and not any(row["mailto"] for row in links):
        print("intake: no mailto: links — set INTAKE_SMTP_RECIPIENTS (an address) or "
              "INTAKE_ACK_FROM", file=sys.stderr)
    return 0
