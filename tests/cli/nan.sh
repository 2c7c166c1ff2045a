#!/bin/bash
# cli: the NaN policy. A learning rate of 1e30 drives the outputs to infinity within a few
# steps. Under the default policy (stop) the run ends with exit 1 and one error line naming
# the step and the layer, and the last good checkpoint stays as it was; under
# --nan-policy skip the run finishes (exit 0), reports the skipped steps in its JSON, and
# the checkpoint it saves holds only finite weights and optimizer state.
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
    run train --resume good.st --epochs 3 --lr 1e30
    expect_rc "$case: --lr 1e30, default policy" 1
    one_error_line "$case: --lr 1e30, default policy" "non-finite"
    check "$case: the message names the step and the layer ($(head -c 120 "$T/err"))" \
        grep -qE "step [0-9]+: .*layer [0-9]+ \([a-z0-9]+#[0-9]+\)" "$T/err"
    check "$case: the good checkpoint (the run's --save) is byte for byte unchanged" \
        cmp -s good.st good.orig
    check "$case: no JSON or other output after the error" eval "! grep -q '^{' \"\$T/out\""

    # skip: the same run finishes and saves only finite values
    run train --resume good.st --epochs 3 --lr 1e30 --nan-policy skip --save skip.st --json
    expect_rc "$case: --lr 1e30 --nan-policy skip" 0
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

# A tame learning rate skips nothing: skipped_steps is 0 (the check above can fail).
run train "${REG[@]}" --epochs 1 --nan-policy skip --json
expect_rc "regression, default lr, --nan-policy skip" 0
check "regression, default lr: skipped_steps is 0" \
    "$PY" -c 'import json, sys; sys.exit(json.loads(open(sys.argv[1]).read().splitlines()[-1])["skipped_steps"] != 0)' "$T/out"

finish
