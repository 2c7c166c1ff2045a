#!/bin/bash
# cli: the NaN policy. A learning rate of 1e9 drives the outputs to infinity within a few
# steps. Under the default policy (stop) the run ends with exit 1 and one error line naming
# the step and the layer, and the last good checkpoint stays as it was; under
# --nan-policy skip the run finishes (exit 0), reports the skipped steps in its JSON, and
# the checkpoint it saves holds only finite weights and optimizer state. A run whose loss
# goes non-finite is reported as diverged (epoch, a lower --lr), exit 1 under stop, with its
# --json line still printed ("diverged": true); so is a test loss that overflows.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$T" || exit 1
fixture csv-reg reg.csv 200
D=$T/data
mkdir -p "$D"
fixture idxdir "$D" 300 100 12 12
REG=(--data reg.csv --model "linear:16 relu linear:out" --batch 32)

for case in regression classification; do
    if [ $case = regression ]; then
        ARGS=("${REG[@]}")
    else
        ARGS=(--data "$D" --model "flatten linear:16 relu linear:out" --batch 32)
    fi
    echo "# $case"
    run train "${ARGS[@]}" --epochs 1 --save good.st
    expect_rc "$case: 1 good epoch (lr default)" 0
    cp good.st good.orig

    # stop: resume the good checkpoint with a huge lr; the NaN comes in epoch 2
    run train --resume good.st --epochs 3 --lr 1e9
    expect_rc "$case: --lr 1e9, default policy" 1
    one_error_line "$case: --lr 1e9, default policy" "non-finite"
    check "$case: the message names the step and the layer ($(head -c 120 "$T/err"))" \
        grep -qE "step [0-9]+: .*layer [0-9]+ \([a-z0-9]+#[0-9]+\)" "$T/err"
    check "$case: ... and the epoch, and suggests a lower --lr" \
        grep -qE "diverged in epoch 2: .*try a lower --lr" "$T/err"
    check "$case: the good checkpoint (the run's --save) is byte for byte unchanged" \
        cmp -s good.st good.orig
    check "$case: no JSON or other output after the error" eval "! grep -q '^{' \"\$T/out\""

    # skip: the same run finishes and saves only finite values
    run train --resume good.st --epochs 3 --lr 1e9 --nan-policy skip --save skip.st --json
    expect_rc "$case: --lr 1e9 --nan-policy skip" 0
    cp "$T/out" skip.out
    check "$case: skipped steps reported on stdout" grep -q "steps skipped for non-finite values" skip.out
    json=$(tail -n 1 skip.out)
    check "$case: JSON skipped_steps > 0 (${json:0:160})" \
        "$PY" -c 'import json, sys; j = json.loads(sys.argv[1]); sys.exit(not (j["skipped_steps"] > 0))' "$json"
    check "$case: the checkpoint saved under skip holds only finite weights and optimizer state" \
        st finite skip.st
    check "$case: the good checkpoint is still unchanged" cmp -s good.st good.orig
    run eval --load skip.st --json
    expect_rc "$case: eval of the skip-policy checkpoint" 0
    check "$case: its JSON parses (non-finite metrics are null)" \
        "$PY" -c 'import json, sys; json.loads(open(sys.argv[1]).read().splitlines()[-1])' "$T/out"
done

echo "# a fresh run that diverges (issue 17: it used to print 'test loss nan' and exit 0)"
run train "${REG[@]}" --lr 1e9 --epochs 1 --json
expect_rc "--lr 1e9 --epochs 1" 1
one_error_line "--lr 1e9 --epochs 1" "the run diverged in epoch 1"
check "--lr 1e9: the line suggests a lower --lr" grep -q "try a lower --lr than 1e+09" "$T/err"
check "--lr 1e9 --json: the JSON still prints, with \"diverged\": true in epoch 1" \
    test "$(json_last "$T/out" diverged),$(json_last "$T/out" diverged_epoch)" = "true,1"

# The loss can also go non-finite where no step looks: in the test set's evaluation. A test
# file whose inputs are 1e30 times the training data's overflows the model's outputs.
"$PY" -c 'import sys
rows = open(sys.argv[1]).read().splitlines()
out = [rows[0]] + [",".join([str(float(v) * 1e30) for v in r.split(",")[:-1]] + [r.split(",")[-1]]) for r in rows[1:]]
open(sys.argv[2], "w").write("\n".join(out) + "\n")' reg.csv huge.csv
run train "${REG[@]}" --test huge.csv --epochs 2 --json --save ep.st --metrics ep.csv
expect_rc "test loss overflows in epoch 1 (default policy)" 1
one_error_line "test loss overflows in epoch 1 (default policy)" "the run diverged in epoch 1: test loss inf"
check "test loss overflow: the run stops after epoch 1" grep -q "^epoch 1/2  train loss" "$T/out"
check "test loss overflow: no epoch 2" eval "! grep -q '^epoch 2/2' \"\$T/out\""
check "test loss overflow: no checkpoint of the diverged epoch" test ! -e ep.st
check "test loss overflow: --metrics still has the epoch's row" test "$(wc -l <ep.csv)" -eq 2
check "test loss overflow: JSON with \"diverged\": true" test "$(json_last "$T/out" diverged)" = true
run train "${REG[@]}" --test huge.csv --epochs 2 --nan-policy skip --json
expect_rc "test loss overflows, --nan-policy skip: the run goes on" 0
check "skip: one warning line naming epoch 1" \
    test "$(grep -c '^lamina: warning: the run diverged in epoch 1' "$T/err"),$(wc -l <"$T/err")" = "1,1"
check "skip: both epochs ran" grep -q "^epoch 2/2  train loss" "$T/out"

# A tame learning rate skips nothing: skipped_steps is 0 (the check above can fail).
run train "${REG[@]}" --epochs 1 --nan-policy skip --json
expect_rc "regression, default lr, --nan-policy skip" 0
check "regression, default lr: skipped_steps is 0 and diverged false" \
    test "$(json_last "$T/out" skipped_steps),$(json_last "$T/out" diverged)" = "0,false"
check "regression, default lr: nothing on stderr" test ! -s "$T/err"

finish
