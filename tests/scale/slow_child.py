"""Child for the shutdown test: `serve` (smtp, worker) with an analyser that holds its item until
the test creates a file, so SIGTERM is sure to arrive while the item is being processed."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from intake.config import load_settings
from intake.context import build_context
from intake.ops.logs import setup_logging
from intake.pipeline.analyse import Analysis
from intake.serve import serve

SLOW = "application/x-intake-test-slow"


def hold_until(folder: Path):  # noqa: ANN201 - an analyser
    async def analyse(processor, item, raw_path, extra, options) -> Analysis:  # noqa: ANN001
        (folder / "started").write_text(str(item.id))
        while not (folder / "release").exists():
            await asyncio.sleep(0.05)
        return Analysis(features={"subject": "slow"}, files=[], links=[], flags=[],
                        verdict={"status": "unmatched", "candidates": [], "flags": []})

    return analyse


async def main(folder: Path) -> None:
    ctx = build_context(load_settings())
    ctx.analysers[SLOW] = hold_until(folder)
    await serve(ctx, ["smtp", "worker"])


if __name__ == "__main__":
    setup_logging(logging.INFO, False)
    asyncio.run(main(Path(sys.argv[1])))
