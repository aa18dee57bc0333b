"""Child `intake` processes for the scale-out tests: start with a clean environment, wait, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(**settings: str) -> dict[str, str]:
    """This environment without any INTAKE_* of the caller's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Logs go to a file: an unread pipe fills up and blocks the child.
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def serve(roles: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return spawn(["-m", "intake.cli", "serve", "--only", roles], env, log)


def says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


async def exit_code(process: subprocess.Popen, timeout: float = 120) -> int:
    return await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)


async def terminate(process: subprocess.Popen, timeout: float = 120) -> int:
    """SIGTERM, as `docker stop` sends it; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return await exit_code(process, timeout)


def kill(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
