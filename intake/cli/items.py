"""`intake items list|show|assign|reject|undo|reprocess`: received items, one by one."""

from __future__ import annotations

import argparse
import sys

from intake.cli.output import item_text, items_table, print_out
from intake.context import Context


async def cmd_items_list(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import items_after, items_view

    filters = {"status": args.status, "channel": args.channel}
    items = await items_view(ctx, after_id=args.after, limit=args.limit, **filters)
    print_out(items, args.json, items_table)
    if not args.json and len(items) == args.limit:  # JSON stays a list: scripts page by id
        last = items[-1]["id"]
        more = await items_after(ctx, last, **filters)
        if more:
            print(f"{more} more: --after {last}", file=sys.stderr)
    return 0


async def cmd_items_show(ctx: Context, args: argparse.Namespace) -> int:
    from intake.review.views import item_view

    item = await item_view(ctx, args.id)
    if item is None:
        print(f"no item {args.id}", file=sys.stderr)
        return 1
    print_out(item, args.json, item_text)
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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    items = sub.add_parser("items", help="received items").add_subparsers(dest="i", required=True)
    lst = items.add_parser("list", help="list items, oldest first")
    lst.add_argument("--status", choices=["received", "matched", "unmatched", "failed",
                                          "rejected", "handled"])
    lst.add_argument("--channel")
    lst.add_argument("--after", type=int, default=0, help="only items with a larger id")
    lst.add_argument("--limit", type=_positive, default=100, help="at most this many (100)")
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
