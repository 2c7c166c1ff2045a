#!/bin/bash
# cli: lamina import. PyTorch's ResNet-20 state_dict (tests/golden, made by gen_resnet20.py)
# goes into the built-in resnet20 by name and out as a checkpoint that
#   - lamina info, eval and predict read: predict --logits gives PyTorch's eval-mode logits
#     of the golden batch (within 1e-4 of the largest), eval's accuracy agrees with them;
#   - normalizes no input unless --mean and --std are given (then it stores them);
#   - lamina train --resume fine-tunes: epoch 1 of the given --data (40 random images), a
#     fresh optimizer, and the imported file is left as it was.
# Broken weights files (a wrong shape, a missing tensor, an extra tensor, a truncated header)
# exit 1 with one line naming the file and the tensor or the problem, and leave no --out.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$T" || exit 1
W=$SRC/tests/golden/resnet20_weights.safetensors
G=$SRC/tests/golden/resnet20_golden.safetensors
R=(--model resnet20 --input 3x32x32)
N=$(fixture golden-npy "$G" X.npy y.npy) || { bad "fixtures"; finish; }
fixture npy-images FX.npy Fy.npy 40 3 32 32

echo "# import"
run import --weights "$W" "${R[@]}" --out r.st
expect_rc "import resnet20" 0
check "one summary line: 107 tensors loaded, 21 ignored, 0 converted" \
    test "$(wc -l <"$T/out"),$(grep -c '107 tensors loaded (274042 values), 21 ignored, 0 converted' "$T/out")" = "1,1"
check "nothing on stderr" test ! -s "$T/err"
check "the checkpoint has no input normalization (no norm.mean)" eval "! grep -q norm.mean r.st"
run info r.st
expect_rc "info of the imported checkpoint" 0
check "info: 272474 parameters" grep -qE "^total: 272474 parameters" "$T/out"

echo "# eval and predict of the golden batch"
run predict --load r.st --data X.npy,y.npy --logits --precision 9 --out logits.csv
expect_rc "predict --logits of the golden batch" 0
check "predict says it scored all $N rows" \
    grep -q "^lamina predict: $N samples of X.npy,y.npy (all rows)" "$T/err"
"$PY" - "$G" logits.csv >check.out 2>&1 <<'PYEOF'
import csv, json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
head, data = json.loads(b[8:8 + n]), b[8 + n:]
def arr(name, fmt):
    lo, hi = head[name]['data_offsets']
    return struct.unpack('<%d%s' % ((hi - lo) // struct.calcsize(fmt), fmt), data[lo:hi])
want, labels = arr('logits_eval', 'f'), arr('labels', 'q')
hdr, *rows = list(csv.reader(open(sys.argv[2])))
assert hdr == ['index', 'class'] + ['z%d' % c for c in range(10)] + ['label'], hdr
n = len(labels)
got = [float(v) for r in rows for v in r[2:12]]
ref = max(abs(v) for v in want)
err = max(abs(a - b) for a, b in zip(got, want))
assert len(rows) == n and len(got) == len(want) and err <= 1e-4 * ref, (len(rows), err, ref)
assert [int(r[-1]) for r in rows] == list(labels), 'label column'
hits = sum(max(range(10), key=lambda c: want[i * 10 + c]) == labels[i] for i in range(n))
print('max |lamina - PyTorch| = %.2e (largest logit %.3f); %d/%d right' % (err, ref, hits, n))
print(hits / n)
PYEOF
check "predict --logits: PyTorch's eval-mode logits, labels in the last column ($(head -n 1 check.out))" \
    test "$(wc -l <check.out)" -eq 2
run eval --load r.st --data X.npy,y.npy --json
expect_rc "eval of the imported checkpoint" 0
check "eval: $N samples, PyTorch's accuracy" \
    test "$(json_last "$T/out" samples),$(json_last "$T/out" test_accuracy)" = "$N,$(tail -n 1 check.out)"
run eval --load r.st
expect_rc "eval without --data: the imported checkpoint names no data" 2
one_error_line "eval without --data" "r.st: no --data given"

echo "# --mean and --std"
run import --weights "$W" "${R[@]}" --out rn.st --mean 0.5,0.25,0 --std 2,4,1
expect_rc "import with --mean and --std" 0
check "the summary says the inputs are normalized" grep -q "inputs normalized by --mean and --std" "$T/out"
check "the checkpoint stores them as norm.mean and norm.std" \
    "$PY" -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
v = lambda k: struct.unpack("<3f", d[h[k]["data_offsets"][0]:h[k]["data_offsets"][1]])
sys.exit(not (v("norm.mean") == (0.5, 0.25, 0.0) and v("norm.std") == (2.0, 4.0, 1.0)))' rn.st
run predict --load rn.st --data X.npy,y.npy --logits --precision 9
expect_rc "predict with the normalizing checkpoint" 0
check "normalized inputs give other logits" eval "! cmp -s \"\$T/out\" logits.csv"

echo "# fine-tuning: train --resume of an imported checkpoint"
cp r.st r.orig
run train --resume r.st --data FX.npy,Fy.npy --epochs 2 --batch 32 --save ft.st --json
expect_rc "train --resume r.st (fine-tune 2 epochs)" 0
check "it says it fine-tunes from epoch 1 with a fresh optimizer" \
    grep -q "^fine-tuning the weights of r.st from epoch 1, fresh optimizer state" "$T/out"
check "it names the model resnet20" \
    grep -q "^lamina train: resnet20 on FX.npy,Fy.npy (32 train, 8 test" "$T/out"
check "two epochs ran" test "$(grep -cE '^epoch [12]/2  train loss' "$T/out")" -eq 2
check "ft.st: epoch 2, optimizer step 2 (a fresh optimizer: one step per epoch)" \
    test "$(st ints ft.st train.epoch optim.t)" = "2,2"
check "the imported file is unchanged" cmp -s r.st r.orig
run eval --load ft.st --json
expect_rc "eval of the fine-tuned checkpoint (no --data: training's held-out rows)" 0
check "eval of ft.st: the 8 held-out rows" test "$(json_last "$T/out" samples)" = 8

echo "# broken weights files: exit 1, one line naming the file and the tensor, no --out left"
for kind in shape missing extra truncated prefix f64; do
    fixture st-variant "$W" "$kind.safetensors" "$kind"
done
broken() {
    local kind=$1 needle=$2
    run import --weights "$kind.safetensors" "${R[@]}" --out "$kind.st"
    expect_rc "import of $kind.safetensors" 1
    one_error_line "import of $kind.safetensors" "$kind.safetensors: $needle"
    check "import of $kind.safetensors: no $kind.st and no temporary file" \
        test "$(find . -maxdepth 1 -name "$kind.st*" | wc -l)" -eq 0
}
broken shape "tensor 'fc.weight' is 10x32 in the file, the model's is 10x64"
broken missing "the model's 'layer1.0.bn1.running_var' (16) is missing"
broken extra "tensor 'head.weight' matches nothing in the model"
broken truncated "header length"
broken prefix "the model's 'conv1.weight'"
cp r.st keep.st
run import --weights missing.safetensors "${R[@]}" --out keep.st
expect_rc "import of missing.safetensors over an existing checkpoint" 1
check "the existing checkpoint is unchanged" cmp -s keep.st r.st
run import --weights nothere.safetensors "${R[@]}" --out n.st
expect_rc "import of a file that does not exist" 1
one_error_line "import of a file that does not exist" nothere.safetensors
run import --weights "$W" --model seed-cnn --input 3x32x32 --out n.st
expect_rc "import into another model" 1
one_error_line "import into another model" "the model's 'conv2d#0.weight' (32x3x3x3) is missing"

echo "# a GPT's tied head: it may be absent from the file, and must equal the embedding"
GW=$SRC/tests/golden/gpt_weights.safetensors
GPT=(--model gpt-mini --input 64 --classes 65)
run import --weights "$GW" "${GPT[@]}" --out g.st
expect_rc "import of nanoGPT's state_dict into gpt-mini" 0
check "gpt-mini: 53 tensors (the tied matrix under both names)" grep -q "53 tensors loaded" "$T/out"
fixture st-variant "$GW" untied.safetensors untied
run import --weights untied.safetensors "${GPT[@]}" --out gu.st
expect_rc "import without the tied lm_head.weight" 0
check "without lm_head.weight: the same checkpoint" st same gu.st g.st
fixture st-variant "$GW" mistied.safetensors mistied
run import --weights mistied.safetensors "${GPT[@]}" --out gm.st
expect_rc "import with a tied tensor that differs from its owner" 1
one_error_line "import with a tied tensor that differs from its owner" \
    "mistied.safetensors: tensor 'lm_head.weight' differs from 'transformer.wte.weight'"

echo "# what the options change"
run import --weights extra.safetensors "${R[@]}" --out ex.st --allow-unused
expect_rc "--allow-unused: extra.safetensors" 0
check "--allow-unused: 22 ignored" grep -q "107 tensors loaded (274042 values), 22 ignored" "$T/out"
run import --weights prefix.safetensors "${R[@]}" --out px.st --strip-prefix module.
expect_rc "--strip-prefix module.: prefix.safetensors" 0
check "--strip-prefix: the same weights as the plain import" st same px.st r.st
run import --weights f64.safetensors "${R[@]}" --out f64.st
expect_rc "F64 tensors" 0
check "F64: 107 converted" grep -q "107 tensors loaded (274042 values), 21 ignored, 107 converted" "$T/out"
check "F64: the same float32 weights as the F32 file" st same f64.st r.st
run import --weights "$W" "${R[@]}" --out nodir/r.st
expect_rc "--out in a directory that does not exist" 1
one_error_line "--out in a directory that does not exist" "--out nodir/r.st"

finish
