"""The `intake` command: serve, db, briefs, items, rematch (every listing takes --json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from intake.config import ConfigError, Settings, load_settings
from intake.context import Context, build_context

# Feature modules add their subcommands through register(subparsers); listed here once.
EXTENSIONS: list[str] = ["intake.cli.users", "intake.cli.imap", "intake.cli.telegram",
                         "intake.cli.links", "intake.cli.export", "intake.cli.media"]


def _print(data: object, as_json: bool, human: Callable[[object], str]) -> None:
    if as_json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(human(data))


def _items_table(items: list[dict]) -> str:
    lines = [f"{'ID':>6}  {'CHANNEL':8} {'STATUS':9} {'BRIEF':13} {'RULE':15} SUBJECT"]
    for i in items:
        lines.append(f"{i['id']:>6}  {i['channel']:8} {i['status']:9} {i['brief_ref'] or '-':13} "
                     f"{i['rule'] or '-':15} {(i['subject'] or '')[:60]}")
    return "\n".join(lines)


def _item_text(item: dict) -> str:
    out = [f"item {item['id']} ({item['channel']}) {item['status']}"
           + (f" → {item['brief_ref']} \"{item['brief_title']}\"" if item["brief_ref"] else ""),
           f"  from: {item['sender']}", f"  subject: {item['subject']}",
           f"  received: {item['received_at']}  rule: {item['rule']}  "
           f"confidence: {item['confidence']}  flags: {', '.join(item['flags']) or '-'}"]
    if item["error"]:
        out.append(f"  error (attempt {item['attempts']}): {item['error']}")
    for m in item["media"]:
        out.append(f"  media: {m['kind']:9} {m['mime'] or '':24} {m['size'] or 0:>10}  "
                   f"{m['filename'] or m['url']}{_fetch_state(m)}")
    for c in item["candidates"]:
        out.append(f"  candidate: {c['brief_ref']} {c['confidence']:.2f} {c['rule']}: "
                   f"{c['evidence']}")
    return "\n".join(out)


def _fetch_state(media: dict) -> str:
    """A link's fetch (issue #13): " [fetched]", " [failed: needs sign-in: …] (medium 7)"."""
    fetch = (media.get("details") or {}).get("fetch")
    if media["kind"] != "link" or not fetch:
        return ""
    from intake.links.errors import describe

    why = f": {describe(fetch['reason'])}" if fetch.get("reason") else ""
    return f"  [{fetch['status']}{why}] (link medium {media['id']})"


def _briefs_table(briefs: list[dict]) -> str:
    lines = [f"{'REF':13} {'RESPONSE':10} {'EMAIL':30} TITLE"]
    for b in briefs:
        lines.append(f"{b['ref']:13} {b['response_id'] or '-':10} {b['email'] or '-':30} "
                     f"{(b['title'] or '')[:60]}")
    return "\n".join(lines)


async def _with_context(settings: Settings, work: Callable) -> object:
    from store.migrate import upgrade

    ctx = build_context(settings)
    try:
        await upgrade(ctx.db)
        return await work(ctx)
    finally:
        await ctx.close()


# -- commands ------------------------------------------------------------------------------


async def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    from intake.serve import serve

    await serve(ctx, args.only)
    return 0


async def cmd_db_upgrade(ctx: Context, args: argparse.Namespace) -> int:
    from store.migrate import current_revision

    print(f"database at revision {await current_revision(ctx.db)}")
    return 0


async def cmd_briefs_import(ctx: Context, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from intake.pipeline.worker import Processor
    from intake.review.survey import ImportFailed, import_briefs

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
    _print(asdict(report), args.json, lambda r: (
        f"{r['rows']} rows: {r['created']} new, {r['updated']} updated, "
        f"{r['unchanged']} unchanged; {r['rematched']} unmatched item(s) now matched"))
    return 0


async def cmd_briefs_list(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import briefs_view

    _print(await briefs_view(ctx), args.json, _briefs_table)
    return 0


async def cmd_briefs_show(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import brief_view

    brief = await brief_view(ctx, args.ref)
    if brief is None:
        print(f"no brief {args.ref}", file=sys.stderr)
        return 1
    _print(brief, args.json, lambda b: "\n".join(
        [f"{b['ref']} \"{b['title']}\" ({b['email'] or 'no email'}, response {b['response_id']})",
         _items_table(b["items"])]))
    return 0


async def cmd_items_list(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import items_view

    items = await items_view(ctx, status=args.status, channel=args.channel,
                             after_id=args.after, limit=args.limit)
    _print(items, args.json, _items_table)
    return 0


async def cmd_items_show(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import item_view

    item = await item_view(ctx, args.id)
    if item is None:
        print(f"no item {args.id}", file=sys.stderr)
        return 1
    _print(item, args.json, _item_text)
    return 0


async def _review(ctx: Context, args: argparse.Namespace, action: str, **kw) -> int:  # noqa: ANN003
    from intake.review.actions import ReviewError, resolve

    try:
        outcome = await resolve(ctx, args.id, action, args.actor, **kw)
    except ReviewError as exc:
        print(f"{action} failed: {exc}", file=sys.stderr)
        return 1
    print(f"item {outcome.item_id}: {outcome.status}"
          + (f" → {outcome.brief_ref}" if outcome.brief_ref else ""))
    return 0


async def cmd_items_assign(ctx: Context, args: argparse.Namespace) -> int:
    return await _review(ctx, args, "assign", ref=args.ref)


async def cmd_items_reject(ctx: Context, args: argparse.Namespace) -> int:
    return await _review(ctx, args, "reject", reason=args.reason)


async def cmd_items_undo(ctx: Context, args: argparse.Namespace) -> int:
    return await _review(ctx, args, "undo")


async def cmd_items_reprocess(ctx: Context, args: argparse.Namespace) -> int:
    from intake.pipeline.worker import Processor
    from intake.review.actions import ReviewError
    from intake.serve import install_processing_hooks

    install_processing_hooks(ctx)  # as in the worker: video details, acknowledgement owed
    processor = Processor(ctx)
    try:
        status = await processor.reprocess(args.id, args.actor)
    except ReviewError as exc:
        print(f"reprocess failed: {exc}", file=sys.stderr)
        return 1
    finally:
        processor.close()
    if status == "received":  # a kind only the telegram role analyses
        print(f"item {args.id}: queued; the process running the telegram role takes it up")
        return 0
    print(f"item {args.id}: {status}")
    return 0 if status != "failed" else 1


async def cmd_rematch(ctx: Context, args: argparse.Namespace) -> int:
    from intake.pipeline.worker import Processor

    processor = Processor(ctx)
    try:
        matched = await processor.rematch_unmatched()
    finally:
        processor.close()
    _print({"matched": matched}, args.json, lambda r: f"{r['matched']} item(s) now matched")
    return 0


async def cmd_process(ctx: Context, args: argparse.Namespace) -> int:
    from intake.pipeline.worker import Processor
    from intake.serve import install_processing_hooks

    install_processing_hooks(ctx)
    processor = Processor(ctx)
    try:
        count = await processor.drain()
    finally:
        processor.close()
    _print({"processed": count}, args.json, lambda r: f"{r['processed']} item(s) processed")
    return 0


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run SMTP, web app and worker (and configured channels)")
    serve.add_argument("--only", type=_roles, metavar="ROLES",
                       help="comma-separated roles: smtp,imap,telegram,web,worker")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    briefs = sub.add_parser("briefs", help="survey records").add_subparsers(dest="b", required=True)
    imp = briefs.add_parser("import", help="import a CSV, XLSX or JSON survey export")
    imp.add_argument("file")
    imp.add_argument("--mapping", type=Path, help='JSON {"field": "Header"} overriding columns')
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_briefs_import)
    lst = briefs.add_parser("list", help="list briefs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_briefs_list)
    show = briefs.add_parser("show", help="one brief with its items")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_briefs_show)

    _items_parser(sub)
    rematch = sub.add_parser("rematch", help="match every unmatched item again")
    rematch.add_argument("--json", action="store_true")
    rematch.set_defaults(func=cmd_rematch)
    process = sub.add_parser("process", help="process every due item now, then exit")
    process.add_argument("--json", action="store_true")
    process.set_defaults(func=cmd_process)
    for module in EXTENSIONS:
        __import__(module, fromlist=["register"]).register(sub)
    return parser


def _roles(text: str) -> list[str]:
    """--only smtp,worker → ["smtp", "worker"], refusing a role this build does not have."""
    from intake.serve import STARTERS

    roles = list(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    unknown = [r for r in roles if r not in STARTERS]
    if unknown or not roles:
        raise argparse.ArgumentTypeError(
            f"unknown role(s): {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(STARTERS)}")
    return roles


def _items_parser(sub: argparse._SubParsersAction) -> None:
    items = sub.add_parser("items", help="received items").add_subparsers(dest="i", required=True)
    lst = items.add_parser("list", help="list items, oldest first")
    lst.add_argument("--status", choices=["received", "matched", "unmatched", "failed",
                                          "rejected", "handled"])
    lst.add_argument("--channel")
    lst.add_argument("--after", type=int, default=0, help="only items with a larger id")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_items_list)
    show = items.add_parser("show", help="one item with media, candidates and history")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_items_show)
    for name, func, extra in (("assign", cmd_items_assign, "ref"),
                              ("reject", cmd_items_reject, None),
                              ("undo", cmd_items_undo, None),
                              ("reprocess", cmd_items_reprocess, None)):
        cmd = items.add_parser(name, help=f"{name} an item")
        cmd.add_argument("id", type=int)
        if extra:
            cmd.add_argument(extra)
        if name == "reject":
            cmd.add_argument("--reason", required=True, help="spam, not_a_practice, duplicate…")
        cmd.add_argument("--actor", default="cli", help="name written in the audit log")
        cmd.set_defaults(func=func)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    _logging(args.verbose, settings.log_json)
    try:
        return asyncio.run(_with_context(settings, lambda ctx: args.func(ctx, args)))
    except KeyboardInterrupt:
        return 130


def _logging(verbose: bool, as_json: bool) -> None:
    from intake.ops.logs import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO, as_json)


if __name__ == "__main__":
    sys.exit(main())
