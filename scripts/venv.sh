#!/usr/bin/env bash
# Usage: scripts/venv.sh DIR REQUIREMENTS [CONSTRAINTS]  (constraints-*.txt pin every transitive dependency)
# Creates (or refreshes, when the requirement files changed) a virtualenv with pinned dependencies.
# Run from the repository root. Says nothing when DIR is current; otherwise reports its steps and pip's progress on
# stderr (one line rewritten in place on a terminal, a line per 10 packages in a log) and pip's errors in full.
set -eu -o pipefail
dir=$1; req=$2; constraints=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
stamp="$dir/.installed"
want=$(cat "$req" ${constraints:+"$constraints"} layers/common/requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

# Every pinned line of the constraints file (else of the requirements file) is one package pip will fetch.
total=$(grep -cE '^[[:space:]]*[A-Za-z0-9][^#]*==' "${constraints:-$req}" || true)
# Measured on the project's machines (2 cores shared, empty pip cache), venv creation and pip upgrade included:
# .venv-tools (SAM CLI, 84 pins) 51-57 s, .venv (79 pins) 52-66 s: about 10 s plus 0.6 s a package.
seconds=$(( 10 + total * 6 / 10 ))
if [ "$seconds" -lt 45 ]; then estimate="about $(( (seconds + 5) / 10 * 10 )) s"
elif [ "$seconds" -lt 90 ]; then estimate="about 1 minute"
else estimate="about $(( (seconds + 30) / 60 )) minutes"; fi
[ -t 2 ] && tty=1 || tty=0

py=$("$here/python.sh")
echo "[1/3] creating $dir ($($py -V 2>&1))" >&2
rm -rf "$dir"
$py -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
[ "$total" = 1 ] && packages=package || packages=packages
echo "[2/3] installing $total pinned $packages (first run: $estimate)" >&2

# pip says "Collecting NAME..." (from an index) or "Processing /path/NAME-VERSION..." (from a local file) once per
# package, then "Installing collected packages: ..."; everything else it prints to stdout is dropped.
show() { if [ "$tty" = 1 ]; then printf '\r\033[K  %s' "$1" >&2; else printf '  %s\n' "$1" >&2; fi; }
landed() { set -- "$dir"/lib/python*/site-packages/*.dist-info; if [ -e "$1" ]; then echo $#; else echo 0; fi; }
# Then pip says nothing while it unpacks and compiles (most of the time for big sets): count what has landed.
watch_installs() {
  local of=$1 now last=0
  while sleep 1 </dev/null >/dev/null 2>&1; do  # (its own fds: an orphaned sleep must hold no pipe open)
    now=$(($(landed) - before))
    if [ "$tty" = 1 ] || [ $((now / 10)) -gt $((last / 10)) ]; then show "[$now/$of] installed"; last=$now; fi
  done
}
progress() {
  local n=0 shown=0 line name="" watcher=""
  while IFS= read -r line; do
    case $line in
      "Collecting "* | "Processing "*)
        n=$((n + 1))
        name=${line#* }; name=${name%% *}
        case $line in Processing*) name=${name##*/}; name=${name%%-[0-9]*} ;; esac
        name=${name%%[][=<>!~;@]*}
        if [ "$tty" = 1 ] || [ $((n % 10)) = 0 ]; then show "[$n/$total] $name"; shown=$n; fi ;;
      "Installing collected packages:"*)
        if [ "$tty" = 0 ] && [ "$shown" != "$n" ]; then show "[$n/$total] $name"; fi
        show "[$n/$total] collected; installing them into $dir"
        watch_installs "$n" &
        watcher=$! ;;
    esac
  done
  if [ -n "$watcher" ]; then
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    show "[$(($(landed) - before))/$n] installed"
  fi
  if [ "$tty" = 1 ] && [ "$n" -gt 0 ]; then printf '\n' >&2; fi
}

# pip's stderr is held until it ends (it would break the rewritten progress line), then shown without the warnings
# about this machine's pip config naming extra local indexes that may not exist (noise).
errors=$(mktemp)
show_errors() { grep -v "^WARNING: Location '" "$errors" >&2 || true; : > "$errors"; }
trap 'show_errors; rm -f "$errors"' EXIT
status=0
before=$(landed)  # pip's own
# (unbuffered: else pip's lines reach progress() in 4 KB lumps, at the end for a small set)
PYTHONUNBUFFERED=1 "$dir/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
  -r "$req" ${constraints:+-c "$constraints"} 2>"$errors" | progress || status=$?
show_errors
if [ "$status" != 0 ]; then
  echo "error: pip could not install $req into $dir (exit $status; its messages are above)" >&2
  exit "$status"
fi
echo "$want" > "$stamp"
echo "[3/3] done in $SECONDS s" >&2
