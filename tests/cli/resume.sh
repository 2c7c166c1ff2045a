#!/bin/bash
# cli: resuming is exact, and writes only where --save says (never by default into the
# file it resumed from). Three configurations: plain SGD on an MLP; Adam with a step
# schedule and warm-up, batch norm, dropout and a validation split on a small CNN; Nesterov
# with a cosine schedule, weight decay and clipping on the same CNN.
#   - 2 epochs straight == 1 epoch, then --epochs 2 --resume: the final checkpoints are bit
#     for bit equal (every tensor but the timing entries train.seconds_bits and
#     history.seconds: weights, batch-norm statistics, optimizer state, step counters, data
#     position, per-epoch history) and the runs report the same metrics. Not for the cosine
#     configuration: its schedule spans --epochs, so a 1-epoch run is not the first epoch of
#     a 2-epoch run.
#   - mid-epoch: a 2-epoch run checkpointing with --save-every 7 fails in its end-of-epoch-2
#     save (the file-size limit is set between the two checkpoint sizes; killed by SIGXFSZ
#     or getting EFBIG), which leaves its last mid-epoch checkpoint intact; resuming from
#     that checkpoint ends bit for bit equal to the straight run.
# The comparison itself is shown able to fail (epoch 1 vs epoch 2).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

D=$T/data
mkdir -p "$D"
fixture idxdir "$D" 600 200 12 12 || { bad "fixtures"; finish; }

# limited BYTES ignore|kill CMD...: run CMD with RLIMIT_FSIZE = BYTES. With "ignore" a write
# beyond it fails with EFBIG; with "kill" SIGXFSZ kills the process (a crash mid-save).
limited() {
    "$PY" -c 'import os, resource, signal, sys
n = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN if sys.argv[2] == "ignore" else signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
os.execv(sys.argv[3], sys.argv[3:])' "$@"
}

# st_differ A B: both files read, and they differ (stcheck exit 1, not 3).
st_differ() {
    st same "$1" "$2"
    test $? -eq 1
}

# resume_case NAME EPOCH_RESUME(yes|no) ON_FULL(ignore|kill) STEPS_PER_EPOCH TRAIN-OPTIONS...
resume_case() {
    local name=$1 epoch_resume=$2 on_full=$3 steps=$4
    shift 4
    local W=$T/$name
    mkdir -p "$W"
    cd "$W" || return
    echo "# $name: $*"

    run train --data "${DATA:-$D}" "$@" --epochs 2 --save a.st --json
    expect_rc "$name: 2 epochs straight" 0
    cp "$T/out" straight.out

    run train --data "${DATA:-$D}" "$@" --epochs 1 --save b.st --json
    expect_rc "$name: 1 epoch" 0
    cp b.st b1.st
    check "$name: checkpoint after epoch 1 says epoch 1, batch 0" \
        test "$(st ints b1.st train.epoch train.batch)" = "1,0"
    check "$name: the comparison can fail (epoch-1 and epoch-2 weights differ)" \
        st_differ a.st b1.st

    if [ "$epoch_resume" = yes ]; then
        # --save is never taken from the checkpoint: without it the resumed run writes
        # nothing, and the file it resumed from stays as it was
        run train --epochs 2 --resume b.st --json
        expect_rc "$name: --epochs 2 --resume b.st without --save" 0
        check "$name: without --save, the run says it writes no checkpoint" \
            grep -q "resuming b.st at epoch 2, batch 0 (step $steps); no --save" "$T/out"
        check "$name: without --save, b.st is byte for byte unchanged" cmp -s b.st b1.st
        check "$name: without --save, no other file appears" \
            test "$(find . -newer b1.st -type f | wc -l)" -eq 0
        run train --epochs 2 --resume b.st --save b.st --json
        expect_rc "$name: --epochs 2 --resume b.st --save b.st (other options from the checkpoint)" 0
        check "$name: the resumed run says where it resumes" grep -q "resuming b.st at epoch 2, batch 0" "$T/out"
        check "$name: resumed run saved where --save says (b.st, now epoch 2)" \
            test "$(st ints b.st train.epoch)" = 2
        check "$name: resumed == straight, bit for bit" st same a.st b.st
        for k in ${JSON_KEYS:-test_loss test_accuracy train_loss samples}; do
            same_json "$name: resumed run reports the straight run's" "$T/out" straight.out $k
        done
    else
        # A cosine schedule spans --epochs, so a 1-epoch run is not the first epoch of a
        # 2-epoch run; only a checkpoint of a run started with --epochs 2 resumes into it.
        echo "# $name: (no 1-epoch resume: the schedule depends on --epochs)"
    fi

    # Mid-epoch: the file-size limit is the size of an epoch-1 checkpoint (same metadata
    # lengths: m.st and b.st, --epochs 2 and 1), so every save up to the ones within epoch 2
    # fits and the end-of-epoch-2 save, whose history is one entry longer, does not.
    local limit
    limit=$(stat -c %s b1.st)
    limited "$limit" "$on_full" "$LAMINA" train --data "${DATA:-$D}" "$@" --epochs 2 --save-every 7 \
        --save m.st >"$T/out" 2>"$T/err"
    RC=$?
    if [ "$on_full" = kill ]; then
        check "$name: the run is killed by SIGXFSZ while saving at the end of epoch 2" \
            test "$RC" -eq $((128 + 25))
    else
        expect_rc "$name: the save at the end of epoch 2 fails (file too large)" 1
        one_error_line "$name: failed save" "m.st"
        check "$name: no temporary file left behind by the failed save" \
            test "$(find . -name 'm.st?*' | wc -l)" -eq 0
    fi
    # epoch 2 runs steps steps+1..2*steps; the last save within it is at the largest
    # multiple of 7 below 2*steps, and resumes at the next batch
    local ms=$(((2 * steps - 1) / 7 * 7))
    local mb=$((ms - steps))
    check "$name: the last mid-epoch checkpoint survives (epoch 2, batch $mb, step $ms)" \
        test "$(st ints m.st train.epoch train.batch train.step)" = "1,$mb,$ms"
    rm -f m.st.tmp.*
    cp m.st mid.st
    run train --epochs 2 --resume m.st --save m.st --json
    expect_rc "$name: resume from the mid-epoch checkpoint" 0
    check "$name: resumed run starts at epoch 2, batch $mb" grep -q "resuming m.st at epoch 2, batch $mb (step $ms)" "$T/out"
    check "$name: resumed from mid-epoch == straight, bit for bit" st same a.st m.st
    for k in ${JSON_KEYS:-test_loss test_accuracy train_loss samples}; do
        same_json "$name: mid-epoch resume reports the straight run's" "$T/out" straight.out $k
    done
    cd "$T" || return
}

resume_case mlp-sgd yes kill 19 --model "flatten linear:16 relu linear:out" --batch 32 --limit-test 100
CNN="conv:4,3,pad=1 bn relu maxpool:2 flatten dropout:0.25 linear:16 relu linear:out"
resume_case cnn-adam yes ignore 17 --model "$CNN" --optimizer adam --schedule step \
    --step-size 10 --gamma 0.5 --warmup 5 --val 0.1 --batch 32 --seed 7
resume_case cnn-cosine no ignore 15 --model "$CNN" --optimizer nesterov --momentum 0.8 \
    --weight-decay 1e-4 --schedule cosine --warmup 3 --clip 1.0 --batch 40 --seed 3
# A character language model: the carried recurrent state, the stream position and the
# dropout between LSTM layers must come back too. 8000 bytes: 7200 for training, 4 streams
# of 1800, (1800 - 1) / 20 = 89 batches per epoch.
"$PY" -c 'import sys
words = b"the quick brown fox jumps over a lazy dog while seven wizards quietly hex".split()
out, x = bytearray(), 12345
while len(out) < 8000:
    x = (x * 1103515245 + 12345) % 2**31
    out += words[x % len(words)] + (b"\n" if x % 7 == 0 else b" ")
open(sys.argv[1], "wb").write(bytes(out[:8000]))' "$D/text.txt"
DATA="text:$D/text.txt" JSON_KEYS="test_loss test_bpc train_loss samples" \
    resume_case lm-lstm yes ignore 89 --model "embedding:vocab,8 lstm:12,layers=2,dropout=0.1
    linear:vocab" --batch 4 --bptt 20 --optimizer adam --lr 0.01 --clip 0.5 --seed 5
# A small GPT on the same text: attention dropout masks (keyed by the step), the tied head
# and AdamW's state must come back.
DATA="text:$D/text.txt" JSON_KEYS="test_loss test_bpc train_loss samples" \
    resume_case lm-gpt yes ignore 89 --model "embedding:vocab,8,name=wte posembed:20,name=p
    layernorm attention:2,causal=1,dropout=0.1 add(p, .) layernorm
    linear:vocab,bias=0,tie=wte" --batch 4 --bptt 20 --optimizer adamw --lr 0.01 \
    --weight-decay 0.1 --warmup 5 --clip 0.5 --seed 5
finish
