"""Child process for the memory test: upload or stream back one big blob, print RSS growth."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

from store.s3 import S3BlobStore

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakRss:
    """The highest resident size seen while it runs (sampled; ru_maxrss also counts imports)."""

    def __enter__(self) -> PeakRss:
        self.before = self.peak = _rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def grown(self) -> int:
        return self.peak - self.before


def _store() -> S3BlobStore:
    env = os.environ
    return S3BlobStore(env["INTAKE_BLOB_URL"], endpoint_url=env["INTAKE_S3_ENDPOINT_URL"],
                       region=env["INTAKE_S3_REGION"],
                       access_key_id=env["INTAKE_S3_ACCESS_KEY_ID"],
                       secret_access_key=env["INTAKE_S3_SECRET_ACCESS_KEY"])


async def main(mode: str, path: Path, sha256: str) -> dict:
    store = _store()
    try:
        await store.check()
        warm = await store.put_bytes(os.urandom(4096))  # load and allocate what any call does
        await store.get_bytes(warm)
        with PeakRss() as rss:
            if mode == "upload":
                await store.put_file(path, sha256)
            else:
                with path.open("wb") as handle:
                    async for chunk in store.stream(sha256):
                        handle.write(chunk)
        return {mode: rss.grown}
    finally:
        await store.close()


if __name__ == "__main__":
    mode, file, sha = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(mode, Path(file), sha))))
