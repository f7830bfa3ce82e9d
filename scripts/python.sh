#!/usr/bin/env bash
# Prints a command that runs the newest usable Python: 3.13 (the Lambda runtime) when present, else 3.11.
# pyenv shims refuse versions that are not selected, so a pyenv 3.13 is selected explicitly.
set -u
try() { "$@" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; }
if try python3.13; then echo "python3.13"; exit 0; fi
if command -v pyenv >/dev/null 2>&1; then
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | tail -n 1)
  if [ -n "$v" ] && PYENV_VERSION="$v" try python3.13; then echo "env PYENV_VERSION=$v python3.13"; exit 0; fi
fi
for p in python3.12 python3.11 python3; do
  if try "$p"; then echo "$p"; echo "note: python3.13 not found, using $p" >&2; exit 0; fi
done
echo "error: Python >= 3.11 is required (3.13 preferred)" >&2
exit 1
