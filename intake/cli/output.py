"""What the commands print: JSON for --json, else tables and item texts one line a row."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable


def print_out(data: object, as_json: bool, human: Callable[[object], str]) -> None:
    if as_json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(human(data))


def cell(value: object, width: int | None = None) -> str:
    """Text as one table cell: line breaks and tabs (a title typed in a survey form, a
    message) become single spaces, so that each row stays one line."""
    return " ".join(str(value or "").split())[:width]


def items_table(items: list[dict]) -> str:
    lines = [f"{'ID':>6}  {'CHANNEL':8} {'STATUS':9} {'BRIEF':13} {'RULE':15} SUBJECT"]
    for i in items:
        lines.append(f"{i['id']:>6}  {i['channel']:8} {i['status']:9} {i['brief_ref'] or '-':13} "
                     f"{i['rule'] or '-':15} {cell(i['subject'], 60)}")
    return "\n".join(lines)


def item_text(item: dict) -> str:
    out = [f"item {item['id']} ({item['channel']}) {item['status']}"
           + (f" → {item['brief_ref']} \"{cell(item['brief_title'])}\"" if item["brief_ref"]
              else ""),
           f"  from: {item['sender']}", f"  subject: {cell(item['subject'])}",
           f"  received: {item['received_at']}  rule: {item['rule']}  "
           f"confidence: {item['confidence']}  flags: {', '.join(item['flags']) or '-'}"]
    if item["error"]:
        out.append(f"  error (attempt {item['attempts']}): {item['error']}")
    for m in item["media"]:
        out.append(f"  media: {m['kind']:9} {m['mime'] or '':24} {m['size'] or 0:>10}  "
                   f"{m['filename'] or m['url']}{fetch_state(m)}")
    for c in item["candidates"]:
        out.append(f"  candidate: {c['brief_ref']} {c['confidence']:.2f} {c['rule']}: "
                   f"{c['evidence']}")
    return "\n".join(out)


def briefs_table(briefs: list[dict]) -> str:
    lines = [f"{'REF':13} {'RESPONSE':10} {'EMAIL':30} TITLE"]
    for b in briefs:
        lines.append(f"{b['ref']:13} {cell(b['response_id']) or '-':10} "
                     f"{cell(b['email']) or '-':30} {cell(b['title'], 60)}")
    return "\n".join(lines)


def fetch_state(media: dict) -> str:
    """A link's fetch: " [fetched]", " [failed: needs sign-in: …] (link medium 7)"."""
    fetch = (media.get("details") or {}).get("fetch")
    if media["kind"] != "link" or not fetch:
        return ""
    from intake.links.errors import describe

    why = f": {describe(fetch['reason'])}" if fetch.get("reason") else ""
    return f"  [{fetch['status']}{why}] (link medium {media['id']})"
