"""Child process for the crash test: intake's IMAP role (settings from INTAKE_*), killing itself
with SIGKILL right after the N-th accept returns — before the flag and the checkpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from intake.config import load_settings
from intake.context import build_context
from intake.mail.imap import make_bridge, start_pollers
from intake.pipeline.accept import accept
from store.migrate import upgrade


async def main(kill_after: int) -> None:
    ctx = build_context(load_settings())
    await upgrade(ctx.db)
    accepted = 0

    async def accept_then_die(raw):  # noqa: ANN001, ANN202
        nonlocal accepted
        result = await accept(ctx, raw)
        accepted += 1
        if accepted == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    start_pollers(ctx, make_bridge(ctx, accept_then_die))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
