"""`intake briefs import FILE --dry-run`: a survey export's columns and what the import
would take from them, writing nothing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from intake.context import Context

WIDTH = 38  # of the name and header-row columns of the table
FORMATS = {"qualtrics": "a Qualtrics export", "surveymonkey": "a SurveyMonkey export",
           "plain": "one header row"}


def _clip(text: str, width: int = WIDTH) -> str:
    text = " ".join(str(text).split())  # a header or answer with line breaks stays one line
    return text if len(text) <= width else text[: width - 1] + "…"


def preview_text(shown: dict) -> str:
    """The dry run for people: the format, every column, the fields taken, the first row."""
    skipped = ", ".join(shown["header_rows"]) or "none"
    lines = [f"{shown['file']}: {FORMATS[shown['format']]}, {shown['rows']} row(s); header "
             f"rows under the first: {skipped}",
             f"{'COL':4} {'NAME':{WIDTH}} {'ROW UNDER IT':{WIDTH}} {'FIELD':12} FIRST ANSWER"]
    for c in shown["columns"]:
        lines.append(f"{c['letter']:4} {_clip(c['name']):{WIDTH}} {_clip(c['label']):{WIDTH}} "
                     f"{c['field'] or '-':12} {_clip(c['sample'], 40)}")
    letters = {c["name"]: c["letter"] for c in shown["columns"]}
    lines.append("recognised: " + "; ".join(
        f"{field} = {name} ({letters[name]})" for field, name in shown["recognised"].items()))
    if shown["missing"]:
        lines.append(f"missing: {', '.join(shown['missing'])}: name them with --mapping FILE, "
                     'e.g. {"title": "#C"}')
    lines.append(f"first row (line {shown['sample']['line']}): " + "; ".join(
        f"{field}: {_clip(value, 60)}" for field, value in shown["sample"]["values"].items()))
    lines += [f"  {error}" for error in shown["errors"][:50]]
    if shown["errors"]:
        lines.append(f"{len(shown['errors'])} bad row(s) would stop the import")
    if "new" in shown:
        lines.append(f"would add {shown['new']} brief(s) and update or keep {shown['known']}")
    lines.append("dry run: nothing was written")
    return "\n".join(lines)


async def dry_run(ctx: Context, args: argparse.Namespace) -> int:
    """Exit 0 when the import would go through, 2 when it would stop (and why)."""
    from intake.review.survey import ImportFailed, dry_run, plan

    try:
        shown = await dry_run(ctx, plan(Path(args.file), mapping_file=args.mapping,
                                        require=False))
    except ImportFailed as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(shown, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(preview_text(shown))
    return 2 if shown["missing"] or shown["errors"] else 0
