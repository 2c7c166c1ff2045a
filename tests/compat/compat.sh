#!/bin/bash
# compat: checkpoints written by the lamina of commit 921205c (before models became graphs)
# load, evaluate and resume with today's lamina. Resuming each mid-epoch checkpoint to the
# end of epoch 2 gives the checkpoint the old lamina wrote at the end of the same run
# without interruption (every tensor but the timing entries), within 1%: the same training,
# with sums now taken in other orders (batch norm's statistics in parallel blocks,
# kernels/bn.c; the convolutions' GEMMs by lamina's AVX-512 kernels, kernels/gemm_avx512.c).
# Measured: 2e-6 relative for the model without batch norm, and 0.2% of the tolerance for
# the one with it (its conv bias, whose gradient batch norm cancels, only drifts). README.md
# says how the files were made.
source "$(dirname "${BASH_SOURCE[0]}")/../cli/common.sh"

C=$SRC/tests/compat
st() { "$PY" "$SRC/tests/cli/stcheck.py" "$@"; }

for name in cnn_bn_adam cnn_fused_sgd; do
    cp "$C/${name}_mid.st" "$T/mid.st"
    run info "$T/mid.st"
    expect_rc "$name: lamina info reads the old checkpoint" 0
    run eval --load "$C/${name}_final.st" --data "$C/data" --json
    expect_rc "$name: lamina eval of the old final checkpoint" 0
    run train --data "$C/data" --epochs 2 --resume "$T/mid.st" --save "$T/resumed.st" --json
    expect_rc "$name: --resume of the old mid-epoch checkpoint" 0
    check "$name: resumed == the old lamina's straight run, within 1%" \
        st close "$T/resumed.st" "$C/${name}_final.st" 1e-2
    check "$name: the comparison can fail (mid-epoch and final weights differ by more)" \
        test "$(st close "$C/${name}_mid.st" "$C/${name}_final.st" 1e-2 >/dev/null;
                echo $?)" = 1
done
finish
