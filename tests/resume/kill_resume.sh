#!/usr/bin/env bash
# Kill and resume: a run with --save-every is killed with SIGKILL at random moments (saves
# included: with --save-every 1 a save is in progress much of the time), resumed each time
# from its checkpoint, and must end with weights bit for bit equal to an uninterrupted run.
# Stale temporary files left by the kills must not break the next run. Then I/O failures:
# a save that fails (file-size limit: EFBIG) must leave the last good checkpoint intact.
# Arguments: LAMINA PYTHON3 SOURCE_ROOT [SEED]
. "$(dirname "$0")/../cli/common.sh"
STCHECK="$SRC/tests/cli/stcheck.py"
seed=${4:-$RANDOM}
echo "kill_resume: random seed $seed"
RANDOM=$seed

if [ ! -d "$FASHION" ]; then
    echo "SKIP: $FASHION not installed"
    exit 77
fi
# Small and quick, but with every piece of state a resume must restore: shuffles, SGD
# momentum, dropout masks drawn per step, batch-norm running statistics, a cosine schedule;
# and a graph: a residual block whose input feeds a convolution and the shortcut.
args=(--model "conv:4,3 bn relu,name=r conv:4,3,pad=1 bn add(., r) relu maxpool:2 flatten
               dropout:0.2 linear:out" --augment crop=2,flip --data fashion-mnist
      --limit-train 640 --limit-test 128 --batch 32 --epochs 3 --schedule cosine --warmup 5
      --threads 2)

run train "${args[@]}" --save "$T/ref.st"
check "uninterrupted reference run" [ "$RC" -eq 0 ]

kills=0
started=0
while [ $kills -lt 6 ]; do
    if [ -f "$T/run.st" ]; then
        "$LAMINA" train --resume "$T/run.st" --save "$T/run.st" --save-every 1 >"$T/out" 2>"$T/err" &
    else
        "$LAMINA" train "${args[@]}" --save "$T/run.st" --save-every 1 >"$T/out" 2>"$T/err" &
    fi
    pid=$!
    started=$((started + 1))
    # 50..850 ms: from start-up (data loading) to the middle of the epochs
    sleep "0.$(( (RANDOM % 8) + 0 ))$(( RANDOM % 10 ))5"
    if kill -9 "$pid" 2>/dev/null; then
        kills=$((kills + 1))
    fi
    wait "$pid" 2>/dev/null
    if [ $started -gt 40 ]; then
        break
    fi
done
check "killed $kills runs with SIGKILL" [ $kills -ge 3 ]
stale=$(ls "$T" | grep -c '\.tmp\.' || true)
echo "    stale temporary files left by the kills: $stale"

if [ -f "$T/run.st" ]; then
    run train --resume "$T/run.st" --save "$T/run.st" --save-every 1
else
    run train "${args[@]}" --save "$T/run.st" --save-every 1
fi
check "the last resume finishes" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || show_run
check "weights after kills and resumes equal the uninterrupted run bit for bit" \
    "$PY" "$STCHECK" same "$T/ref.st" "$T/run.st"

# A save that fails must keep the last good checkpoint: run with a file-size limit below the
# checkpoint's size, so writing the temporary file fails with EFBIG.
cp "$T/run.st" "$T/good.st"
size_kb=$(( $(stat -c %s "$T/good.st") / 1024 / 2 ))
(
    trap '' XFSZ
    ulimit -f "$size_kb"
    "$LAMINA" train "${args[@]}" --epochs 1 --save "$T/good.st" >"$T/out" 2>"$T/err"
)
RC=$?
check "a failing save exits 1" [ "$RC" -eq 1 ]
check "the error names the checkpoint" grep -q "good.st" "$T/err"
check "the last good checkpoint is byte-identical" cmp -s "$T/run.st" "$T/good.st"
check "no temporary file is left by the failed save" \
    bash -c "! ls '$T' | grep -q 'good.st.tmp'"

# Saving into a directory that cannot be written (a failed create) also keeps the old file.
mkdir "$T/ro" && cp "$T/run.st" "$T/ro/ck.st" && chmod 555 "$T/ro"
if [ "$(id -u)" -ne 0 ]; then
    run train "${args[@]}" --epochs 1 --save "$T/ro/ck.st"
    check "save into a read-only directory exits 1" [ "$RC" -eq 1 ]
    check "the checkpoint there is untouched" cmp -s "$T/run.st" "$T/ro/ck.st"
fi
chmod 755 "$T/ro"

echo "$n_pass passed, $n_fail failed"
[ $n_fail -eq 0 ]
