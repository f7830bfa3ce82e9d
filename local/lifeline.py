"""Stop a local helper process when the process that started it goes away (a killed `make local` must not leave
servers holding ports)."""

from __future__ import annotations

import os
import signal
import threading
import time


def follow_parent(poll_seconds: float = 0.5) -> None:
    """When our parent exits (we are re-parented), deliver SIGTERM to ourselves so normal shutdown code runs."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="lifeline").start()
