#!/bin/bash
# cli: what a run produces. lamina info (parameter totals of the built-in models, the table of
# a checkpoint), train --json (classification and regression), --metrics (one row per epoch),
# --plot (an SVG document), plain progress lines when piped, lamina eval (accuracy and a
# confusion matrix that agree with training's test metrics), lamina predict (one row per
# sample, probabilities summing to 1, classes agreeing with eval, the true label, --logits,
# --precision). Without --data, eval and predict score exactly the rows training held out of
# a single file (count, accuracy and loss as training reported them).
# Classification runs on the installed Fashion-MNIST (--limit-train 512 --limit-test 256),
# or on a generated MNIST-layout directory when it is not installed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$T" || exit 1

# py_check DESC PYTHON-CODE ARGS...: the code (reading sys.argv) exits 0.
py_check() {
    local desc=$1 code=$2
    shift 2
    local msg
    if msg=$("$PY" -c "$code" "$@" 2>&1); then ok "$desc${msg:+: $msg}"; else bad "$desc: $msg"; fi
}

echo "# lamina info"
for m in "seed-cnn 1x28x28 406270" "seed-cnn 3x32x32 522046" "lenet5 1x28x28 61706" "mlp 1x28x28 535818"; do
    set -- $m
    run info --model "$1" --input "$2"
    expect_rc "info --model $1 --input $2" 0
    check "info --model $1 --input $2: total line shows $3 parameters" \
        grep -qE "^total: $3 parameters" "$T/out"
    # the table's params column adds up to the total
    check "info --model $1 --input $2: the per-layer parameters add up to $3" \
        test "$(awk '$1 ~ /^[0-9]+$/ { s += $4 } END { print s }' "$T/out")" = "$3"
done
run info --model seed-cnn --input 1x28x28
check "info seed-cnn: 12 layer rows, the last linear with 10 outputs" \
    test "$(grep -cE '^[0-9]+ ' "$T/out"),$(grep -E '^11 ' "$T/out" | awk '{ print $2, $3 }')" = "12,linear#11 10"

# (LAMINA_TEST_NO_FASHION=1 forces the generated data, to test this script's other path)
if [ -z "${LAMINA_TEST_NO_FASHION:-}" ] && [ -r "$FASHION/train-images-idx3-ubyte.gz" ] &&
    [ -r "$FASHION/t10k-labels-idx1-ubyte.gz" ]; then
    DATA=fashion-mnist
    N_TRAIN=512 N_TEST=256 SIDE=28
    LABELS=$FASHION/t10k-labels-idx1-ubyte.gz
    DATA_ARGS=()
else
    echo "# $FASHION not installed (or LAMINA_TEST_NO_FASHION set): generated data instead"
    DATA=$T/data
    N_TRAIN=512 N_TEST=256 SIDE=12
    mkdir -p "$DATA"
    fixture idxdir "$DATA" 600 300 12 12
    LABELS=$DATA/t10k-labels-idx1-ubyte.gz
    DATA_ARGS=(--data "$DATA")
fi
CNN="conv:8,3,pad=1 relu maxpool:2 flatten linear:out"

echo "# lamina train --json --metrics --plot --save (classification, $DATA)"
run train "${DATA_ARGS[@]}" --model "$CNN" --limit-train $N_TRAIN --limit-test $N_TEST \
    --epochs 3 --batch 64 --save c.st --metrics m.csv --plot p.svg --json
expect_rc "train on $DATA" 0
cp "$T/out" train.out
py_check "train --json: the last stdout line is a JSON object with the documented keys" '
import json, math, sys
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
for k in ("test_accuracy", "test_loss", "samples", "seconds", "images_per_second"):
    assert isinstance(j.get(k), (int, float)) and math.isfinite(j[k]), (k, j.get(k))
assert 0.0 <= j["test_accuracy"] <= 1.0 and j["test_loss"] > 0, j
assert j["samples"] == 3 * int(sys.argv[2]), ("samples", j["samples"])
assert j["seconds"] >= 0 and j["images_per_second"] > 0, j
assert "test_mse" not in j, j
print("accuracy %.4f, loss %.4f, %d samples" % (j["test_accuracy"], j["test_loss"], j["samples"]))
' train.out $N_TRAIN
py_check "train: it learns (test accuracy above 50%)" '
import json, sys
a = json.loads(open(sys.argv[1]).read().splitlines()[-1])["test_accuracy"]
assert a > 0.5, a
' train.out
py_check "train: the JSON accuracy is the last epoch line's" '
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
j = json.loads(lines[-1])
ep = [l for l in lines if l.startswith("epoch 3/3  train loss")]
assert len(ep) == 1, ep
m = re.search(r"test loss ([0-9.]+) acc ([0-9.]+)%", ep[0])
assert m and abs(float(m.group(2)) - 100 * j["test_accuracy"]) < 0.006, (ep[0], j)
assert abs(float(m.group(1)) - j["test_loss"]) < 6e-5, (ep[0], j)
' train.out
check "train piped: plain lines (no carriage return, no escape sequence)" \
    eval "! grep -q \$'[\\r\\033]' train.out"
steps=$(((N_TRAIN + 63) / 64))
check "train piped: progress reaches step $steps/$steps of each epoch" \
    test "$(grep -cE "^epoch [123]/3  step $steps/$steps " train.out)" -eq 3
check "train piped: one summary line per epoch" test "$(grep -cE '^epoch [123]/3  train loss' train.out)" -eq 3

py_check "--metrics m.csv: a header and one row per epoch, matching the JSON" '
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
head, body = rows[0], rows[1:]
assert head[:3] == ["epoch", "train_loss", "train_accuracy"] and "test_accuracy" in head, head
assert [r[0] for r in body] == ["1", "2", "3"], body
assert all(len(r) == len(head) for r in body), body
j = json.loads(open(sys.argv[2]).read().splitlines()[-1])
acc = float(body[-1][head.index("test_accuracy")])
assert abs(acc - j["test_accuracy"]) < 1e-5, (acc, j["test_accuracy"])
print("%d columns, %d rows" % (len(head), len(body)))
' m.csv train.out
check "--plot p.svg: starts with <svg or <?xml" \
    eval 'head -c 5 p.svg | grep -qE "^(<svg|<\?xml)"'
py_check "--plot p.svg: a well-formed SVG document" '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), root.tag
' p.svg

echo "# lamina info CKPT"
run info c.st
expect_rc "info c.st" 0
check "info c.st: names the spec" grep -qF "spec '$CNN'" "$T/out"
total=$("$LAMINA" info --model "$CNN" --input 1x${SIDE}x${SIDE} | awk '/^total:/ { print $2 }')
check "info c.st: the same total ($total) as info --model SPEC --input" \
    grep -qE "^total: $total parameters" "$T/out"

echo "# lamina eval"
run eval --load c.st --limit $N_TEST --batch 64 --json
expect_rc "eval --load c.st" 0
cp "$T/out" eval.out
check "eval: prints the accuracy" grep -qE "accuracy [0-9.]+%" eval.out
py_check "eval: a 10x10 confusion matrix whose counts add up to the samples and whose diagonal is the accuracy" '
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
i = [k for k, l in enumerate(lines) if l.startswith("confusion matrix")][0]
cols = lines[i + 1].split()
assert cols == [str(c) for c in range(10)], cols
rows = [list(map(int, l.split())) for l in lines[i + 2:i + 12]]
assert [r[0] for r in rows] == list(range(10)) and all(len(r) == 11 for r in rows), rows
total = sum(sum(r[1:]) for r in rows)
diag = sum(rows[c][c + 1] for c in range(10))
j = json.loads(lines[-1])
n = int(sys.argv[2])
assert total == n == j["samples"], (total, n, j["samples"])
assert abs(diag / n - j["test_accuracy"]) < 1e-6, (diag, j)
m = re.search(r"accuracy ([0-9.]+)%", "\n".join(lines))
assert abs(float(m.group(1)) - 100 * diag / n) < 0.006, m.group(0)
' eval.out $N_TEST
py_check "eval --json: the documented keys, and the training run's final test metrics" '
import json, sys
e = json.loads(open(sys.argv[1]).read().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().splitlines()[-1])
for k in ("test_accuracy", "test_loss", "samples", "seconds", "images_per_second"):
    assert isinstance(e.get(k), (int, float)), (k, e)
assert e["test_accuracy"] == t["test_accuracy"], (e, t)
assert abs(e["test_loss"] - t["test_loss"]) <= 1e-5 * max(1.0, t["test_loss"]), (e, t)
' eval.out train.out

echo "# lamina predict"
run predict --load c.st --limit 100 --out pred.csv
expect_rc "predict --out pred.csv" 0
run eval --load c.st --limit 100 --json
cp "$T/out" eval100.out
py_check "predict: a header and one row per sample: index, class, 10 probabilities summing to 1, the true label" '
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, body = rows[0], rows[1:]
assert head == ["index", "class"] + ["p%d" % c for c in range(10)] + ["label"], head
assert len(body) == 100, len(body)
for i, r in enumerate(body):
    p = [float(v) for v in r[2:12]]
    assert int(r[0]) == i and len(p) == 10 and len(r) == 13, r
    assert all(0.0 <= v <= 1.0 for v in p) and abs(sum(p) - 1.0) < 1e-4, r
    assert int(r[1]) == max(range(10), key=lambda c: p[c]), r
' pred.csv
py_check "predict: the label column is the data's, and the classes score eval's accuracy against it" '
import csv, gzip, json, sys
body = list(csv.reader(open(sys.argv[1])))[1:]
raw = gzip.open(sys.argv[2]).read()[8:8 + len(body)]
assert [int(r[-1]) for r in body] == list(raw), "label column"
hits = sum(int(r[1]) == raw[i] for i, r in enumerate(body))
acc = json.loads(open(sys.argv[3]).read().splitlines()[-1])["test_accuracy"]
assert abs(hits / len(body) - acc) < 1e-9, (hits, acc)
print("%d/%d correct" % (hits, len(body)))
' pred.csv "$LABELS" eval100.out
run predict --load c.st --limit 100 --logits --precision 9 --out logits.csv
expect_rc "predict --logits --precision 9" 0
py_check "predict --logits: raw scores z0..z9 with 9 significant digits, whose softmax is the probabilities" '
import csv, math, sys
lh, *lb = list(csv.reader(open(sys.argv[1])))
ph, *pb = list(csv.reader(open(sys.argv[2])))
assert lh == ["index", "class"] + ["z%d" % c for c in range(10)] + ["label"], lh
digits = max(len(v.lstrip("-").replace(".", "").split("e")[0].lstrip("0")) for r in lb for v in r[2:12])
assert digits == 9, digits
for l, p in zip(lb, pb):
    z = [float(v) for v in l[2:12]]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    assert all(abs(a / sum(e) - float(b)) < 2e-6 for a, b in zip(e, p[2:12])), (l, p)
    assert l[1] == p[1] and l[-1] == p[-1], (l, p)
' logits.csv pred.csv
run predict --load c.st --limit 7
expect_rc "predict to stdout" 0
check "predict to stdout: a header and 7 rows" test "$(grep -cE '^[0-9]+,[0-9],' "$T/out"),$(head -n 1 "$T/out" | cut -d, -f1-3)" = "7,index,class,p0"

if [ "$DATA" = fashion-mnist ]; then
    echo "# defaults: lamina train with no --data trains on Fashion-MNIST"
    run train --model "flatten linear:10" --limit-train 128 --limit-test 64 --epochs 1 --json
    expect_rc "train without --data" 0
    check "train without --data: 128 Fashion-MNIST samples, 64 from the t10k split" \
        grep -qE "on fashion-mnist \(128 train, 64 test from t10k split\)" "$T/out"
fi

echo "# regression (CSV)"
fixture csv-reg reg.csv 400
run train --data reg.csv --model "linear:32 relu linear:out" --epochs 10 --batch 16 --save r.st --metrics rm.csv --json
expect_rc "train on a regression CSV" 0
cp "$T/out" reg.out
py_check "regression --json: test_mse and test_mae, no accuracy" '
import json, math, sys
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
for k in ("test_mse", "test_mae", "samples", "seconds", "images_per_second"):
    assert isinstance(j.get(k), (int, float)) and math.isfinite(j[k]), (k, j)
assert "test_accuracy" not in j, j
assert j["samples"] == 10 * 320, j["samples"]
assert 0 < j["test_mse"] < 0.1 and 0 < j["test_mae"] < 0.3, j
print("mse %.4g, mae %.4g" % (j["test_mse"], j["test_mae"]))
' reg.out
check "regression --metrics: header names mae, 10 rows" \
    test "$(head -n 1 rm.csv | cut -d, -f1-3),$(($(wc -l <rm.csv) - 1))" = "epoch,train_loss,train_mae,10"
run train --data reg.csv --model "linear:4 relu linear:out" --epochs 1 --threads 1
check "train --threads 1: the header says '1 thread'" grep -qE "params, 1 thread$" "$T/out"
# a model spec file whose name needs JSON escaping (quotes, a backslash)
SPEC='spec "quoted" \ file.txt'
printf '# a spec file\nlinear:8 relu\nlinear:out\n' >"$SPEC"
run train --data reg.csv --model "$SPEC" --epochs 1 --json
expect_rc "train --model from a spec file named with quotes and a backslash" 0
py_check "train --json: the model name is escaped, the line still parses" '
import json, sys
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert j["model"] == sys.argv[2], (j["model"], sys.argv[2])
' "$T/out" "$SPEC"
run eval --load r.st --json
expect_rc "eval of a regression checkpoint" 0
py_check "regression eval --json: test_mse and test_mae of the 80 rows training held out, as training reported them" '
import json, math, sys
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().splitlines()[-1])
assert all(math.isfinite(j[k]) for k in ("test_mse", "test_mae", "samples")), j
assert "test_accuracy" not in j and j["samples"] == 80 and j["split"] == "held-out", j
assert abs(j["test_mse"] - t["test_mse"]) <= 1e-5 * t["test_mse"], (j, t)
' "$T/out" reg.out
run predict --load r.st --limit 5
expect_rc "predict of a regression checkpoint" 0
check "regression predict: index, one value and the true target per row" \
    test "$(head -n 1 "$T/out"),$(grep -cE '^[0-4],-?[0-9.e+-]+,-?[0-9.e+-]+$' "$T/out")" = "index,y0,target0,5"

echo "# eval and predict without --data score the rows training held out (classification CSV)"
fixture csv-cls cls.csv 600
run train --data cls.csv --model "linear:8 relu linear:out" --epochs 3 --batch 32 --seed 5 \
    --save cls.st --json
expect_rc "train on a classification CSV" 0
cp "$T/out" cls_train.out
check "training held out 120 of the 600 rows" grep -q "(480 train, 120 test from 20% held out" cls_train.out
run eval --load cls.st --json
expect_rc "eval --load cls.st (no --data)" 0
cp "$T/out" cls_eval.out
py_check "eval without --data: 120 samples and the accuracy and loss of training's last epoch" '
import json, sys
e = json.loads(open(sys.argv[1]).read().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().splitlines()[-1])
assert e["samples"] == 120 and e["split"] == "held-out", e
assert e["test_accuracy"] == t["test_accuracy"], (e, t)
assert abs(e["test_loss"] - t["test_loss"]) <= 1e-5 * max(1.0, t["test_loss"]), (e, t)
print("accuracy %.4f on %d samples" % (e["test_accuracy"], e["samples"]))
' cls_eval.out cls_train.out
check "eval says which split it scored" grep -q "cls.csv (the 20% held out in training, seed " cls_eval.out
run predict --load cls.st --out cls_pred.csv
expect_rc "predict --load cls.st (no --data)" 0
check "predict says which split it scored (stderr)" \
    grep -q "^lamina predict: 120 samples of cls.csv (the 20% held out" "$T/err"
py_check "predict without --data: the same 120 rows, labelled, scoring eval's accuracy" '
import csv, json, sys
head, *body = list(csv.reader(open(sys.argv[1])))
e = json.loads(open(sys.argv[2]).read().splitlines()[-1])
assert head[-1] == "label" and len(body) == 120, (head, len(body))
hits = sum(r[1] == r[-1] for r in body)
assert hits / len(body) == e["test_accuracy"], (hits, e)
' cls_pred.csv cls_eval.out
for sp in "train 480" "all 600" "test 120"; do
    set -- $sp
    run eval --load cls.st --split "$1" --json
    check "eval --split $1: $2 samples" test "$(json_last "$T/out" samples)" = "$2"
done
run eval --load cls.st --data cls.csv --json
check "eval --data cls.csv (named by the user): all 600 rows" test "$(json_last "$T/out" samples)" = 600

finish
