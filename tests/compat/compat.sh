#!/bin/bash
# compat: checkpoints written by the lamina of commit 921205c (before models became graphs)
# load, evaluate and resume with today's lamina. Resuming each mid-epoch checkpoint to the
# end of epoch 2 gives the checkpoint the old lamina wrote at the end of the same run
# without interruption (every tensor but the timing entries): bit for bit for the model
# without batch norm, and within 1% for the one with it, whose statistics are now summed in
# blocks, in parallel (kernels/bn.c), where the old lamina summed each channel serially.
# README.md says how the files were made.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/common.sh"

C=$SRC/tests/compat
st() { "$PY" "$SRC/tests/cli/stcheck.py" "$@"; }

for name in cnn_bn_adam cnn_fused_sgd; do
    how="same"
    [ "$name" = cnn_bn_adam ] && how="close_1e-2"
    cp "$C/${name}_mid.st" "$T/mid.st"
    run info "$T/mid.st"
    expect_rc "$name: lamina info reads the old checkpoint" 0
    run eval --load "$C/${name}_final.st" --data "$C/data" --json
    expect_rc "$name: lamina eval of the old final checkpoint" 0
    run train --data "$C/data" --epochs 2 --resume "$T/mid.st" --save "$T/resumed.st" --json
    expect_rc "$name: --resume of the old mid-epoch checkpoint" 0
    if [ "$how" = same ]; then
        check "$name: resumed == the old lamina's straight run, bit for bit" \
            st same "$T/resumed.st" "$C/${name}_final.st"
        check "$name: the comparison can fail (mid-epoch and final weights differ)" \
            test "$(st same "$C/${name}_mid.st" "$C/${name}_final.st" >/dev/null; echo $?)" = 1
    else
        check "$name: resumed == the old lamina's straight run, within 1%" \
            st close "$T/resumed.st" "$C/${name}_final.st" 1e-2
        check "$name: the comparison can fail (mid-epoch and final weights differ by more)" \
            test "$(st close "$C/${name}_mid.st" "$C/${name}_final.st" 1e-2 >/dev/null;
                    echo $?)" = 1
    fi
done
finish
