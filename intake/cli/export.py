"""`intake export`: CSV/JSON tables of briefs, media and items; one zip per brief."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from intake.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="briefs with their media and items: tables or zips")
    what = export.add_mutually_exclusive_group()
    what.add_argument("--bundle", metavar="REF", help="one brief's zip: metadata, media, texts")
    what.add_argument("--all", metavar="DIR", type=Path,
                      help="one zip per brief with matched items, into DIR")
    export.add_argument("--out", type=Path, default=Path("export"),
                        help="folder for the tables or the --bundle zip (default ./export)")
    export.add_argument("--json", action="store_true", help="report as JSON")
    export.set_defaults(func=cmd_export)


def _bar(total: int, unit: str, quiet: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    # On stderr, and only for a person watching: scripts get the report alone.
    return tqdm(total=total, unit=unit, unit_scale=unit == "B", file=sys.stderr,
                disable=quiet or not sys.stderr.isatty())


def _report(data: dict, as_json: bool, text: str) -> None:
    if as_json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


async def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    if args.bundle:
        return await _one(ctx, args)
    if args.all:
        return await _all(ctx, args)
    from intake.media.export import write_tables

    result = await write_tables(ctx, args.out)
    _report(result, args.json, f"{result['briefs']} brief(s) written to "
                               + ", ".join(result["files"].values()))
    return 0


def _bundle_json(bundle) -> dict:  # noqa: ANN001 - intake.media.export.Bundle
    return {"ref": bundle.ref, "path": str(bundle.path), "files": bundle.files,
            "bytes": bundle.bytes, "missing": bundle.missing}


async def _one(ctx: Context, args: argparse.Namespace) -> int:
    from intake.media.export import brief_export, write_zip

    export = await brief_export(ctx, args.bundle)
    if export is None:
        print(f"no brief {args.bundle}", file=sys.stderr)
        return 1
    with _bar(export.bytes(), "B", args.json) as bar:
        bundle = await write_zip(ctx, export, args.out / f"{export.brief.ref}.zip", bar.update)
    _report(_bundle_json(bundle), args.json,
            f"{bundle.path}: {bundle.files} file(s), {bundle.bytes} bytes"
            + (f"; {len(bundle.missing)} missing from the store" if bundle.missing else ""))
    return 0 if not bundle.missing else 1


async def _all(ctx: Context, args: argparse.Namespace) -> int:
    from intake.media.export import write_bundles
    from store.exports import count_briefs_with_items

    async with ctx.db.reader()() as session:
        total = await count_briefs_with_items(session)
    with _bar(total, "brief", args.json) as bar:
        bundles = await write_bundles(ctx, args.all, lambda _bundle: bar.update(1))
    missing = sum(len(b.missing) for b in bundles)
    _report({"bundles": [_bundle_json(b) for b in bundles]}, args.json,
            f"{len(bundles)} zip(s) in {args.all}"
            + (f"; {missing} medi(a) missing from the store" if missing else ""))
    return 0 if not missing else 1
