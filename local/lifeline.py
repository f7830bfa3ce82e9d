"""Stop a local helper process when the process that started it goes away or is told to stop (a killed or interrupted
`make local` must not leave servers holding ports)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

# Signals GNU make treats as "the user wants to stop": it handles them, but forwards only SIGTERM to its children
# and waits for them otherwise (make's commands.c, fatal_error_signal), so a SIGINT sent to make alone would hang.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def _caught_signals(pid: int) -> int | None:
    """The bit mask of signals `pid` has a handler for (Linux /proc), or None where that can't be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def _is_make(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("make", "gmake")
    except OSError:
        return False


def _mask(signals: tuple[signal.Signals, ...]) -> int:
    return sum(1 << (s - 1) for s in signals)


def follow_parent(poll_seconds: float = 0.2) -> None:
    """Deliver SIGTERM to ourselves (so normal shutdown code runs) when our parent exits (we are re-parented), or
    when the parent is GNU make and has just started handling a stop signal: make resets a signal's handler to the
    default before it waits for its children, so a handler that disappears means make was interrupted."""
    parent = os.getppid()
    watched = _mask(_STOP_SIGNALS)
    caught = _caught_signals(parent) if _is_make(parent) else None
    watched_at_start = (caught & watched) if caught is not None else 0

    def watch() -> None:
        while os.getppid() == parent:
            if watched_at_start:
                now = _caught_signals(parent)
                if now is not None and (now & watched_at_start) != watched_at_start:
                    break
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="lifeline").start()
