"""The demo console's one dependency, Logto's browser SDK (`@logto/browser` from the npm registry), installed from
local/console-sdk/package-lock.json with `npm ci` and bundled by esbuild into one ES module the page imports
(local/console-sdk/dist/logto-browser.js). Done on the first run (and again only when the lockfile or the entry
changes), by `make local` and by the stacks the browser tests start; both folders are git-ignored.

  python -m local.console_build      # the same, by hand
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parent / "console-sdk"
BUNDLE = SDK_DIR / "dist" / "logto-browser.js"
INPUTS = ("package.json", "package-lock.json", "entry.js")
FIRST_RUN_SECONDS = 10  # npm ci of 13 packages on a fresh machine, measured: 3-10 s


class BuildError(Exception):
    pass


def _digest() -> str:
    return hashlib.sha256(b"".join((SDK_DIR / name).read_bytes() for name in INPUTS)).hexdigest()


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Two stacks starting at once (make local and the browser tests) must not run npm in one folder together."""
    with open(SDK_DIR / ".build-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(*argv: str) -> None:
    try:
        # npm's progress and errors go straight to make local's terminal (inherited), as they come
        subprocess.run(argv, cwd=SDK_DIR, check=True)
    except subprocess.CalledProcessError as error:
        raise BuildError(f"`{' '.join(argv)}` in {SDK_DIR} failed (exit {error.returncode}); see above") from None


def ensure_bundle() -> Path:
    """The SDK bundle, built first if missing or out of date. Prints what it does (a first run takes seconds)."""
    stamp = SDK_DIR / "dist" / ".inputs"
    with _locked():
        digest = _digest()
        if BUNDLE.exists() and stamp.exists() and stamp.read_text() == digest:
            return BUNDLE
        if shutil.which("npm") is None:
            raise BuildError("the demo console needs Node.js and npm on PATH (apt-get install -y nodejs npm)")
        started = time.monotonic()
        installed = SDK_DIR / "node_modules" / ".package-lock.json"
        lock_changed = (
            not installed.exists() or installed.stat().st_mtime < (SDK_DIR / "package-lock.json").stat().st_mtime
        )
        if lock_changed:
            print(
                f"installing console dependencies (first run: about {FIRST_RUN_SECONDS} s): "
                "npm ci in local/console-sdk (@logto/browser, esbuild)",
                flush=True,
            )
            # --ignore-scripts: no package runs code at install (esbuild finds its platform binary without one)
            _run("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=http")
        print("bundling the console's Logto SDK with esbuild", flush=True)
        _run("npm", "run", "--silent", "bundle")
        stamp.write_text(digest)
        print(f"console ready in {time.monotonic() - started:.1f} s (cached for later runs)", flush=True)
    return BUNDLE


if __name__ == "__main__":
    try:
        ensure_bundle()
    except BuildError as error:
        sys.exit(f"error: {error}")
