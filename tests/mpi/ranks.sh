#!/usr/bin/env bash
# Data-parallel training under mpirun (suite 'mpi'): the same checkpoint bits on 1, 2 and 3
# ranks as the single process, resume across rank counts, a killed rank, mismatched data,
# and a C program on its own communicator.
# Arguments: LAMINA PYTHON3 SOURCE_ROOT MPIRUN TEST_COMM
# shellcheck source=../cli/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/common.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../cli" && pwd)
MPIRUN=$4
COMM=$5
CMP="$SRC/tests/mpi/compare_ckpt.py"
# as root (CI) mpirun needs --allow-run-as-root; 3 ranks on 2 cores need --oversubscribe
mpi() { local np=$1; shift; timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe \
    --bind-to none -np "$np" "$@"; }

# same_bits DESC ARGS...: the single process (2 threads) and 1, 2, 3 ranks of 1 thread
# write equal checkpoints.
same_bits() {
    local desc=$1
    shift
    run train "$@" --threads 2 --save "$T/ref.ckpt"
    if [ "$RC" -ne 0 ]; then bad "$desc: single process exit $RC"; show_run; return; fi
    for np in 1 2 3; do
        mpi "$np" "$LAMINA" train "$@" --threads 1 --save "$T/np$np.ckpt" >"$T/out" 2>"$T/err"
        RC=$?
        if [ "$RC" -ne 0 ]; then bad "$desc: $np ranks exit $RC"; show_run; continue; fi
        if "$PY" "$CMP" "$T/ref.ckpt" "$T/np$np.ckpt" >"$T/cmp"; then
            ok "$desc: $np rank(s) = single process ($(cat "$T/cmp"))"
        else
            bad "$desc: $np rank(s): $(cat "$T/cmp")"
        fi
    done
}

FM="--limit-train 960 --limit-test 300 --epochs 1"
same_bits "seed-cnn, chunks of 32" $FM --batch 96 --chunk 32
same_bits "batch norm model, chunks of 16" $FM --batch 48 --chunk 16 \
    --model "conv:8,3,pad=1 bn relu maxpool:2 conv:16,3 bn relu flatten linear:32 bn relu linear:out"
same_bits "resnet20 (augment, cosine), chunks of 16" --limit-train 192 --limit-test 100 \
    --epochs 1 --batch 48 --chunk 16 --model resnet20

# resume across rank counts: 2 epochs on 2 ranks = 1 epoch on 3 ranks + 1 more on 1 rank
R="--limit-train 960 --limit-test 100 --batch 96 --chunk 32 --threads 1"
mpi 2 "$LAMINA" train $R --epochs 2 --save "$T/full.ckpt" >/dev/null 2>&1
mpi 3 "$LAMINA" train $R --epochs 1 --save "$T/half.ckpt" >/dev/null 2>&1
mpi 1 "$LAMINA" train --resume "$T/half.ckpt" --epochs 2 --save "$T/half.ckpt" >/dev/null 2>&1
check "resume: 3 ranks then 1 rank = 2 ranks ($("$PY" "$CMP" "$T/full.ckpt" "$T/half.ckpt"))" \
    "$PY" "$CMP" "$T/full.ckpt" "$T/half.ckpt"
run train $R --epochs 1 --save "$T/one.ckpt"
mpi 2 "$LAMINA" train --resume "$T/one.ckpt" --epochs 2 --save "$T/one.ckpt" >/dev/null 2>&1
check "resume: 1 process then 2 ranks = 2 ranks ($("$PY" "$CMP" "$T/full.ckpt" "$T/one.ckpt"))" \
    "$PY" "$CMP" "$T/full.ckpt" "$T/one.ckpt"

# a killed rank: once the first checkpoint is out, rank 1 is killed (-9) mid-run; the job
# ends non-zero, and the checkpoint left behind loads and evaluates
(
    cd "$T" || exit 1
    KILL_CKPT="$T/kill.ckpt" mpi 2 -x KILL_CKPT bash -c 'if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then
            (while [ ! -f "$KILL_CKPT" ]; do sleep 0.1; done; sleep 1; kill -9 $$) &
        fi
        exec "$0" "$@"' "$LAMINA" train --limit-train 960 --limit-test 100 --batch 96 \
        --threads 1 --epochs 500 --save-every 5 --save "$T/kill.ckpt" >"$T/kout" 2>"$T/kerr"
    echo $? >"$T/krc"
)
KRC=$(cat "$T/krc")
check "killed rank: the job exits non-zero (exit $KRC)" test "$KRC" -ne 0 -a "$KRC" -ne 124
run eval --load "$T/kill.ckpt" --threads 1
expect_rc "killed rank: the last checkpoint is intact and evaluates" 0

# mismatched data: rank 1 reads another file
"$PY" "$HERE/fixtures.py" csv-cls "$T/a.csv" 200
sed '2s/^./9/' "$T/a.csv" >"$T/b.csv"
"$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none \
    -np 1 "$LAMINA" train --data "$T/a.csv" --batch 20 --epochs 1 --threads 1 : \
    -np 1 "$LAMINA" train --data "$T/b.csv" --batch 20 --epochs 1 --threads 1 \
    >"$T/out" 2>"$T/err"
RC=$?
check "mismatched data: exit non-zero ($RC)" test "$RC" -ne 0
check "mismatched data: the error names the rank and the data" \
    grep -q "rank 1 reads different data than rank 0" "$T/err"

# a C program on its own communicator (world split in two: ranks {0, 1} and {2})
mpi 3 "$COMM" >"$T/out" 2>"$T/err"
RC=$?
if [ "$RC" -eq 0 ]; then ok "own communicator: $(grep -c '^ok' "$T/out") checks"; else bad "own communicator: exit $RC"; show_run; fi

echo "$n_pass passed, $n_fail failed"
[ "$n_fail" -eq 0 ]
