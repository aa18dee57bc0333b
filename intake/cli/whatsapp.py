"""`intake whatsapp check`: do the token and phone number id work, how do the wa.me links look."""

from __future__ import annotations

import argparse
import json
import sys

from intake.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    whatsapp = sub.add_parser("whatsapp", help="the WhatsApp number (Cloud API)")
    commands = whatsapp.add_subparsers(dest="w", required=True)
    check = commands.add_parser("check", help="verify the token and phone number id against "
                                              "the Graph API; print the number and its link")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)


async def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    from channels.whatsapp import GraphClient, WhatsAppFailure
    from intake.chat.flow import example_code
    from intake.chat_apps.whatsapp import whatsapp_options

    settings = ctx.settings
    options = whatsapp_options(settings)
    if not options.token:
        print("intake: INTAKE_WHATSAPP_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        async with GraphClient(options) as client:
            number = await client.phone_number()
    except WhatsAppFailure as exc:
        print(f"intake: phone number {options.phone_number_id}: {exc}", file=sys.stderr)
        return 1
    report = {
        "phone_number_id": number.id, "number": number.display, "name": number.verified_name,
        "quality": number.quality, "api": options.api_url,
        "webhook": bool(settings.whatsapp_verify_token.get_secret_value()),
        "template": options.template or None,
        "link": f"https://wa.me/{number.digits}?text=<REF>",
        "example": number.link(example_code(settings.ref_prefix)),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    configured = "".join(ch for ch in settings.whatsapp_number if ch.isdigit())
    if configured != number.digits:
        # `intake briefs links` builds wa.me links from the setting, not from the Graph API.
        print(f"note: set INTAKE_WHATSAPP_NUMBER={number.digits} for `intake briefs links`"
              + (f" (it says {settings.whatsapp_number})" if configured else ""),
              file=sys.stderr)
    print(f"number {number.display} (\"{number.verified_name}\", id {number.id}, quality "
          f"{number.quality or '?'}) answers at {options.api_url}\n"
          f"  webhook: {'/whatsapp/webhook' if report['webhook'] else 'off'}"
          f" (INTAKE_WHATSAPP_VERIFY_TOKEN)\n"
          f"  outside 24 h: {'template ' + options.template if options.template else 'silent'}"
          f"\n  link: {report['link']}   e.g. {report['example']}")
    return 0
