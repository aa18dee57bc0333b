"""The parsing processes' own side: each ends itself once the worker that started it is gone."""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 1.0


def watch_parent(parent: int) -> None:
    """Initializer of the parsing pool: a daemon thread exits this process when its parent
    is no longer the worker that started it. A worker killed with SIGKILL (or by the OOM
    killer) never shuts its pool down, and the pool's processes would otherwise wait on
    their queue for ever, each holding its memory."""

    def watch() -> None:
        while os.getppid() == parent:  # re-parented (to init, tini, a subreaper): it died
            time.sleep(CHECK_SECONDS)
        os._exit(0)  # nothing of ours to flush: results go back only through the pool

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
