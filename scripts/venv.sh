#!/usr/bin/env bash
# Usage: scripts/venv.sh DIR REQUIREMENTS [CONSTRAINTS]  (constraints-*.txt pin every transitive dependency)
# Creates (or refreshes, when the requirement files changed) a virtualenv with pinned dependencies.
set -eu -o pipefail
dir=$1; req=$2; constraints=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
stamp="$dir/.installed"
want=$(cat "$req" ${constraints:+"$constraints"} layers/common/requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
py=$("$here/python.sh")
echo "creating $dir with $($py -V 2>&1)" >&2
rm -rf "$dir"
$py -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# (this machine's pip config names extra local indexes that may not exist; their warnings are noise)
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" ${constraints:+-c "$constraints"} 2>&1 \
  | { grep -v "^WARNING: Location '" || true; }
echo "$want" > "$stamp"
