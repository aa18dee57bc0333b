"""`intake telegram check`: is the token good, what is the bot called, how do its links look."""

from __future__ import annotations

import argparse
import json
import sys

from intake.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    telegram = sub.add_parser("telegram", help="the Telegram bot")
    commands = telegram.add_subparsers(dest="t", required=True)
    check = commands.add_parser("check", help="verify the token; print the bot's name and "
                                              "deep-link form")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)


async def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    from channels.telegram import CLOUD_API, TelegramFailure, identify
    from intake.chat.flow import example_code
    from intake.chat_apps.telegram import telegram_options

    options = telegram_options(ctx.settings)
    if not options.token:
        print("intake: INTAKE_TELEGRAM_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        me = await identify(options)
    except TelegramFailure as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    example = example_code(ctx.settings.ref_prefix)
    report = {
        "bot_id": me.id, "username": me.username, "name": me.name,
        "api": options.api_url or CLOUD_API,
        "mode": "webhook" if options.webhook_url else "polling",
        "webhook_url": options.webhook_url or None,
        "download_limit": options.download_limit,
        "deep_link": f"https://t.me/{me.username}?start=<REF>",
        "example": me.deep_link(example),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    configured = getattr(ctx.settings, "telegram_bot_username", "").lstrip("@")
    if configured.lower() != me.username.lower():
        # `intake briefs links` builds deep links from the setting, not from the Bot API.
        print(f"note: set INTAKE_TELEGRAM_BOT_USERNAME={me.username} for `intake briefs links`"
              + (f" (it says {configured})" if configured else ""), file=sys.stderr)
    limit = f"{report['download_limit'] // 1_000_000} MB" if report["download_limit"] else "none"
    print(f"bot @{me.username} (\"{me.name}\", id {me.id}) answers at {report['api']}\n"
          f"  receives by {report['mode']}"
          + (f" at {options.webhook_url}" if options.webhook_url else "") + "\n"
          f"  download limit: {limit}\n"
          f"  deep link: {report['deep_link']}   e.g. {report['example']}")
    return 0
