"""The `intake` command: its entry point and parser, serve, db, rematch and process; the
other command groups register themselves from their own modules (every listing takes --json)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

from intake.cli.checks import check_settings
from intake.cli.output import print_out
from intake.config import ConfigError, Settings, load_settings
from intake.context import Context, build_context

# Feature modules add their subcommands through register(subparsers); listed here once.
EXTENSIONS: list[str] = ["intake.cli.briefs", "intake.cli.items", "intake.cli.users",
                         "intake.cli.imap", "intake.cli.telegram", "intake.cli.links",
                         "intake.cli.export", "intake.cli.whatsapp", "intake.cli.media"]


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


async def cmd_rematch(ctx: Context, args: argparse.Namespace) -> int:
    from intake.pipeline.worker import Processor

    processor = Processor(ctx)
    try:
        matched = await processor.rematch_unmatched()
    finally:
        processor.close()
    print_out({"matched": matched}, args.json, lambda r: f"{r['matched']} item(s) now matched")
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
    print_out({"processed": count}, args.json, lambda r: f"{r['processed']} item(s) processed")
    return 0


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake", description="Email and chat intake for calls for innovative practices "
        "(every listing takes --json).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run SMTP, web app and worker (and configured channels)")
    serve.add_argument("--only", type=_roles, metavar="ROLES",
                       help="comma-separated roles: smtp,imap,telegram,whatsapp,web,worker")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

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


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(build_parser().parse_args(argv))
        sys.stdout.flush()  # a reader gone away shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # `intake items show 7 | head`: the reader has what it wanted. Stop quietly, with the
        # status of a program stopped by SIGPIPE; stdout to /dev/null, so that the
        # interpreter's last flush has nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        check_settings(settings)  # before anything starts: no database, no role
        _logging(args.verbose, settings.log_json)
        return asyncio.run(_with_context(settings, lambda ctx: args.func(ctx, args)))
    except ConfigError as exc:  # found at start or, should a check be missing, later
        for line in str(exc).splitlines():
            print(f"intake: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _logging(verbose: bool, as_json: bool) -> None:
    from intake.ops.logs import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO, as_json)


if __name__ == "__main__":
    sys.exit(main())
