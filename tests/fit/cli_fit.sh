#!/bin/bash
# fit: `lamina train --optimizer lm|lbfgs` on the oscillator CSV (made by
# make_oscillator_csv.py): full batch, --epochs = iterations, JSON out, a loadable
# checkpoint; usage errors for classification data, another loss and --resume.
# Arguments: the lamina executable, python3, make_oscillator_csv.py.
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 LAMINA PYTHON3 MAKE_CSV" >&2
    exit 2
fi
LAMINA=$1
PY=$2
MAKE=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-fit.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
n_pass=0
n_fail=0
ok() { n_pass=$((n_pass + 1)); echo "ok   - $*"; }
bad() { n_fail=$((n_fail + 1)); echo "FAIL - $*"; sed 's/^/    /' "$T/out" "$T/err" | tail -8; }
run() { "$LAMINA" "$@" >"$T/out" 2>"$T/err"; RC=$?; }
# json_below KEY LIMIT: the last stdout line is JSON and its KEY is a number below LIMIT
json_below() {
    "$PY" -c 'import json,sys; v=json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]]
sys.exit(0 if isinstance(v, (int, float)) and v < float(sys.argv[3]) else 1)' "$T/out" "$1" "$2"
}

"$PY" "$MAKE" "$T/osc.csv" --rows 600 --seed 3 || { echo "FAIL - make_oscillator_csv.py"; exit 1; }
head -1 "$T/osc.csv" | grep -q '^m,k,c,w,amplitude$' && ok "CSV header" || bad "CSV header"
[ "$(wc -l <"$T/osc.csv")" -eq 601 ] && ok "CSV rows" || bad "CSV rows"
NET="linear:16 tanh linear:16 tanh linear:out"

for opt in lm lbfgs; do
    run train --data "$T/osc.csv" --model "$NET" --optimizer $opt --epochs 40 --threads 1 \
        --save "$T/$opt.st" --json
    if [ $RC -eq 0 ]; then ok "$opt: exit 0"; else bad "$opt: exit $RC"; fi
    if grep -q "^$opt: [0-9]* iterations, [0-9]* full-batch evaluations, train mse" "$T/out"; then
        ok "$opt: summary line"
    else
        bad "$opt: summary line"
    fi
    # the targets' variance is about 0.3: 40 iterations must do far better than the mean
    if json_below test_mse 0.01; then ok "$opt: test mse below 0.01"; else bad "$opt: test mse"; fi
    run eval --load "$T/$opt.st" --data "$T/osc.csv"
    if [ $RC -eq 0 ]; then ok "$opt: checkpoint evaluates"; else bad "$opt: eval exit $RC"; fi
done

# usage errors: exit 2, one "lamina: error:" line naming the problem
usage() {
    local desc=$1 needle=$2
    shift 2
    run "$@"
    if [ $RC -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^lamina: error: .*$needle" \
        "$T/err"; then
        ok "$desc"
    else
        bad "$desc (exit $RC)"
    fi
}
"$PY" -c 'import random
r = random.Random(1)
print("a,b,label")
for i in range(100):
    a, b = r.random(), r.random()
    print(f"{a:.4f},{b:.4f},{int(a > b)}")' >"$T/cls.csv"
usage "lm on class labels" "for regression" train --data "$T/cls.csv" --model "linear:out" \
    --optimizer lm --epochs 2
usage "lbfgs with --loss l1" "no --loss but mse" train --data "$T/osc.csv" --optimizer lbfgs \
    --loss l1 --model "linear:out"
usage "lm with --resume" "no --resume" train --data "$T/osc.csv" --optimizer lm \
    --resume "$T/lm.st" --model "linear:out"
usage "unknown optimizer lists lm" "lm or lbfgs" train --data "$T/osc.csv" --optimizer newton

echo "$n_pass passed, $n_fail failed"
[ $n_fail -eq 0 ]
