"""`intake imap check` and `intake imap backfill`: test each mailbox, read old mail again."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from datetime import date

from tqdm import tqdm

from channels.imap import NETWORK_ERRORS, ImapError, MailboxSpec, Stall, Tally, backfill, probe
from intake.config import ConfigError
from intake.context import Context
from intake.mail.imap import imap_options, load_checkpoint, mailbox_specs, make_bridge


def register(sub: argparse._SubParsersAction) -> None:
    imap = sub.add_parser("imap", help="IMAP mailboxes").add_subparsers(dest="imap", required=True)
    check = imap.add_parser("check", help="connect to each mailbox and say what is there")
    check.add_argument("--mailbox", action="append", metavar="URL",
                       help="only this mailbox (repeatable); default: INTAKE_IMAP_URLS")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)
    fill = imap.add_parser("backfill", help="hand old mail (read or not) to intake again; "
                                            "what it already has is skipped")
    fill.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD",
                      help="only mail the server received on or after this day")
    fill.add_argument("--mailbox", action="append", metavar="URL",
                      help="only this mailbox (repeatable); default: INTAKE_IMAP_URLS")
    fill.add_argument("--json", action="store_true")
    fill.set_defaults(func=cmd_backfill)


def _specs(ctx: Context, args: argparse.Namespace) -> list[MailboxSpec] | None:
    try:
        specs = mailbox_specs(ctx.settings, args.mailbox)
    except ConfigError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return None
    if not specs:
        print("intake: no mailbox: set INTAKE_IMAP_URLS or give --mailbox", file=sys.stderr)
        return None
    return specs


def _emit(results: list[dict], as_json: bool, human) -> int:  # noqa: ANN001 - a formatter
    if as_json:
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for result in results:
            print(human(result))
    return 0 if all(r["ok"] for r in results) else 1


# -- check -----------------------------------------------------------------------------------


async def _check_one(ctx: Context, spec: MailboxSpec) -> dict:
    result: dict = {"mailbox": spec.name, "ok": False, "error": None}
    try:
        result["checkpoint"] = await load_checkpoint(ctx, spec.name)
        result.update(await asyncio.to_thread(probe, spec, ctx.settings.imap_move_to))
        result["ok"] = True
    except ImapError as exc:
        result["error"] = str(exc)
    except NETWORK_ERRORS as exc:
        result["error"] = f"{spec.name}: {type(exc).__name__}: {exc}"
    return result


def _check_text(result: dict) -> str:
    if not result["error"] and result["ok"]:
        mark = result.get("checkpoint") or {}
        seen = (f"UIDVALIDITY {mark['uidvalidity']}, last UID {mark['last_uid']}"
                if mark else "none yet (the whole folder will be read)")
        if mark and mark.get("uidvalidity") != result["uidvalidity"]:
            seen += " — UIDVALIDITY changed: the folder will be read again, duplicates dropped"
        if mark.get("set_aside"):
            seen += f"; set aside (flagged $IntakeFailed): {mark['set_aside']}"
        if result.get("move_to_exists") is False:
            seen += "\n  INTAKE_IMAP_MOVE_TO: that folder is missing; the poller will create it"
        return (f"{result['mailbox']}  OK\n"
                f"  capabilities: {' '.join(result['capabilities'])}\n"
                f"  UIDVALIDITY {result['uidvalidity']}, {result['messages']} message(s), "
                f"UIDNEXT {result['uidnext']}, IDLE {'yes' if result['idle'] else 'no (polling)'}"
                f"\n  checkpoint: {seen}")
    return f"{result['mailbox']}  ERROR\n  {result['error']}"


async def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    specs = _specs(ctx, args)
    if specs is None:
        return 2
    # One mailbox failing says so and the others are still checked.
    results = [await _check_one(ctx, spec) for spec in specs]
    return _emit(results, args.json, _check_text)


# -- backfill --------------------------------------------------------------------------------


async def _backfill_one(ctx: Context, spec: MailboxSpec, args: argparse.Namespace) -> dict:
    result: dict = {"mailbox": spec.name, "ok": False, "error": None}
    stop = threading.Event()
    bridge = make_bridge(ctx)
    with tqdm(desc=spec.name, unit="msg", file=sys.stderr, disable=None, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            tally: Tally = await asyncio.to_thread(
                backfill, spec, bridge, imap_options(ctx.settings), args.since, progress, stop)
        except asyncio.CancelledError:
            stop.set()  # Ctrl-C: let the thread finish the message in hand and log out
            raise
        except (ImapError, Stall) as exc:
            result["error"] = str(exc)
            return result
        except NETWORK_ERRORS as exc:
            result["error"] = f"{spec.name}: connection lost: {type(exc).__name__}: {exc}"
            return result
    result.update(ok=True, new=tally.new, duplicate=tally.duplicate, rejected=tally.rejected,
                  failed=tally.failed, read=tally.new + tally.duplicate + tally.rejected
                  + tally.failed)
    return result


def _backfill_text(result: dict) -> str:
    if not result["ok"]:
        return f"{result['mailbox']}  ERROR\n  {result['error']}"
    return (f"{result['mailbox']}  {result['read']} message(s) read: {result['new']} new, "
            f"{result['duplicate']} already there, {result['rejected']} refused, "
            f"{result['failed']} set aside")


async def cmd_backfill(ctx: Context, args: argparse.Namespace) -> int:
    specs = _specs(ctx, args)
    if specs is None:
        return 2
    results = [await _backfill_one(ctx, spec, args) for spec in specs]
    code = _emit(results, args.json, _backfill_text)
    if not args.json and any(r.get("new") for r in results):
        print("new items are processed by `intake serve` (or now: `intake process`)")
    return code
