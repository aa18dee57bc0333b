"""`intake briefs import|list|show`: survey records in, and what intake holds of them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from intake.cli.output import briefs_table, cell, items_table, print_out
from intake.context import Context


async def cmd_briefs_import(ctx: Context, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from intake.pipeline.worker import Processor
    from intake.review.survey import ImportFailed, import_briefs

    if args.dry_run:
        from intake.cli.survey import dry_run

        return await dry_run(ctx, args)
    try:
        report = await import_briefs(ctx, Path(args.file), mapping_file=args.mapping,
                                     progress=not args.json and sys.stderr.isatty())
    except ImportFailed as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    processor = Processor(ctx)
    try:
        report.rematched = await processor.rematch_unmatched()
    finally:
        processor.close()
    print_out(asdict(report), args.json, lambda r: (
        f"{r['rows']} rows: {r['created']} new, {r['updated']} updated, "
        f"{r['unchanged']} unchanged; {r['rematched']} unmatched item(s) now matched"))
    return 0


async def cmd_briefs_list(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import briefs_view

    print_out(await briefs_view(ctx), args.json, briefs_table)
    return 0


async def cmd_briefs_show(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import brief_view

    brief = await brief_view(ctx, args.ref)
    if brief is None:
        print(f"no brief {args.ref}", file=sys.stderr)
        return 1
    print_out(brief, args.json, lambda b: "\n".join(
        [f"{b['ref']} \"{cell(b['title'])}\" ({cell(b['email']) or 'no email'}, "
         f"response {cell(b['response_id'])})",
         items_table(b["items"])]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    briefs = sub.add_parser("briefs", help="survey records").add_subparsers(dest="b", required=True)
    imp = briefs.add_parser("import", help="import a CSV, XLSX or JSON survey export")
    imp.add_argument("file")
    imp.add_argument("--mapping", type=Path, help='JSON {"field": "Header"} overriding columns')
    imp.add_argument("--dry-run", action="store_true",
                     help="show the columns and what would be imported; write nothing")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_briefs_import)
    lst = briefs.add_parser("list", help="list briefs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_briefs_list)
    show = briefs.add_parser("show", help="one brief with its items")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_briefs_show)
