# shellcheck shell=bash disable=SC2034
# Shared by the cli suite's scripts (sourced, not run). Arguments of every script:
#   $1 the lamina executable, $2 python3, $3 the source root.
# Fixtures are made by tests/cli/fixtures.py in a temporary directory removed on exit.
set -u

if [ $# -lt 3 ]; then
    echo "usage: $0 LAMINA PYTHON3 SOURCE_ROOT" >&2
    exit 2
fi
abspath() { case $1 in */*) echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;; *) command -v "$1" ;; esac; }
LAMINA=$(abspath "$1")
PY=$(abspath "$2")
SRC=$(cd "$3" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
FASHION=/usr/share/datasets/fashion-mnist

n_pass=0
n_fail=0

ok()  { n_pass=$((n_pass + 1)); echo "ok   - $*"; }
bad() { n_fail=$((n_fail + 1)); echo "FAIL - $*"; }

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}

# run ARGS...: run lamina; stdout in $T/out, stderr in $T/err, exit status in RC.
run() {
    "$LAMINA" "$@" >"$T/out" 2>"$T/err"
    RC=$?
}

# Dump the last run's output when a check on it failed (kept short).
show_run() {
    echo "    exit $RC; stderr:"
    head -n 5 "$T/err" | sed 's/^/    | /'
    echo "    stdout (tail):"
    tail -n 3 "$T/out" | sed 's/^/    | /'
}

# expect_rc DESC WANT: the last run exited with WANT.
expect_rc() {
    if [ "$RC" -eq "$2" ]; then ok "$1: exit $2"; else bad "$1: exit $RC, want $2"; show_run; fi
}

# one_error_line DESC NEEDLE: stderr is exactly one line "lamina: error: ..." containing NEEDLE.
one_error_line() {
    local lines first
    lines=$(wc -l <"$T/err")
    first=$(head -n 1 "$T/err")
    if [ "$lines" -eq 1 ] && [ "${first#lamina: error: }" != "$first" ] &&
        grep -qF -- "$2" "$T/err"; then
        ok "$1: one error line naming '$2': ${first:0:110}"
    else
        bad "$1: want one line 'lamina: error: ...$2...', got $lines line(s)"
        show_run
    fi
}

# json_last FILE KEY: print KEY of the JSON object on FILE's last line; fails (status 1, no
# output) when the line is not a JSON object or lacks KEY.
json_last() {
    tail -n 1 "$1" | "$PY" -c 'import json, sys
try:
    v = json.loads(sys.stdin.read())[sys.argv[1]]
except Exception as e:
    sys.exit(1)
print(json.dumps(v))' "$2"
}

# same_json DESC FILE_A FILE_B KEY: both last lines are JSON with KEY, and the values are equal.
same_json() {
    local a b
    if a=$(json_last "$2" "$4") && b=$(json_last "$3" "$4") && [ "$a" = "$b" ]; then
        ok "$1: $4 = $a"
    else
        bad "$1: $4 differs or is missing ('${a:-}' vs '${b:-}')"
    fi
}

fixture() { "$PY" "$HERE/fixtures.py" "$@"; }
st() { "$PY" "$HERE/stcheck.py" "$@"; }

finish() {
    echo "$n_pass passed, $n_fail failed"
    [ "$n_fail" -eq 0 ] || exit 1
    exit 0
}
