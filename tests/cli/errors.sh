#!/bin/bash
# cli: bad files end the run with exit 1 and one clear line, and never destroy a checkpoint.
# For every broken input (IDX, gzip, NPY, CSV, checkpoints, labels beyond the model's
# classes, paths that cannot be written, found before the first step):
#   - exit status 1;
#   - stderr is exactly one line, "lamina: error: ...", naming the file (and for CSV the
#     line:column);
#   - for training runs, a good checkpoint passed as --save (or resumed from) is byte for
#     byte unchanged afterwards and no temporary file is left next to it;
#   - for predict, an existing --out file is unchanged.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cd "$T" || exit 1
D=$T/data
mkdir -p "$D" trunc magic overflow count gz
fixture idxdir "$D" 300 100 12 12 || { bad "fixtures"; finish; }
SMALL=(--model "flatten linear:8 relu linear:out")

# The checkpoint every failing run must leave alone, and one of another model.
run train --data "$D" "${SMALL[@]}" --epochs 1 --save "$T/good.st"
expect_rc "setup: train the good checkpoint" 0
cp good.st good.orig
run train --data "$D" --model "flatten linear:4 relu linear:out" --epochs 1 --save "$T/other.st"
expect_rc "setup: train a checkpoint of another model" 0

# IDX: MNIST-layout directories with one broken train-images file (labels are fine)
fixture idx-truncated trunc/train-images-idx3-ubyte
fixture idx-magic magic/train-images-idx3-ubyte
fixture idx-overflow overflow/train-images-idx3-ubyte
for d in trunc magic overflow; do fixture idx-labels $d/train-labels-idx1-ubyte 100; done
cp "$D"/train-images-idx3-ubyte count/
fixture idx-labels count/train-labels-idx1-ubyte 299
fixture idx-truncated pair-images
fixture idx-labels pair-labels 100
# gzip: the t10k split cut in the middle of its compressed stream
cp "$D"/* gz/
head -c 2000 "$D"/t10k-images-idx3-ubyte.gz >gz/t10k-images-idx3-ubyte.gz
# NPY and CSV
fixture npy X.npy yneg.npy 60 neg
fixture npy X.npy yhuge.npy 60 huge
fixture npy X.npy y.npy 60 ok
printf 'not an npy file at all, just text\n' >bad.npy
fixture csv-neglabel neg.csv
fixture csv-cell cell.csv
printf 'a,b,y\n1,2,0\n3,4\n5,6,1\n' >ragged.csv
fixture csv-reg reg.csv 50
fixture csv-cls cls.csv 50
# checkpoints: truncated in the header, short by one byte, corrupted JSON, absurd header size
head -c 1000 good.st >trunc.st
head -c $(($(stat -c %s good.st) - 1)) good.st >short.st
cp good.st garbled.st
printf 'XXXX' | dd of=garbled.st bs=1 seek=20 conv=notrunc 2>/dev/null
cp good.st hugehdr.st
printf '\377\377\377\377\377\377\377\177' | dd of=hugehdr.st bs=1 seek=0 conv=notrunc 2>/dev/null

# Checks shared by every failing training run.
unharmed() {
    check "$1: good.st byte for byte unchanged" cmp -s good.st good.orig
    check "$1: no temporary file left next to good.st" \
        test "$(find . -maxdepth 1 -name 'good.st?*' | wc -l)" -eq 0
}

# bad_train DESC NEEDLE TRAIN-ARGS...: a 1-epoch training run with --save good.st fails.
bad_train() {
    local desc=$1 needle=$2
    shift 2
    run train "${SMALL[@]}" --epochs 1 --save "$T/good.st" "$@"
    expect_rc "$desc" 1
    one_error_line "$desc" "$needle"
    unharmed "$desc"
}

echo "# training data"
bad_train "IDX images shorter than the header says" trunc/train-images-idx3-ubyte --data trunc
bad_train "IDX wrong magic" magic/train-images-idx3-ubyte --data magic
bad_train "IDX dims whose product overflows" overflow/train-images-idx3-ubyte --data overflow
bad_train "IDX labels count differs from images" count/train-labels-idx1-ubyte --data count
bad_train "IDX pair (images,labels), images truncated" pair-images --data pair-images,pair-labels
bad_train "gzip stream truncated (t10k split)" gz/t10k-images-idx3-ubyte.gz --data gz
bad_train "NPY y with a negative label" yneg.npy --data X.npy,yneg.npy
bad_train "NPY y with a label of 2^40" yhuge.npy --data X.npy,yhuge.npy
bad_train "NPY without the NPY magic" bad.npy --data bad.npy,y.npy
bad_train "CSV label -1 with --task classify" neg.csv:4: --data neg.csv --task classify
bad_train "CSV cell that is not a number" 'cell.csv:4:5: cell "abc"' --data cell.csv
bad_train "CSV row with too few cells" ragged.csv:3: --data ragged.csv
bad_train "--test that is broken" 'cell.csv:4:5' --data "$D" --test cell.csv
bad_train "--test of another task than --data" cls.csv --data reg.csv --test cls.csv
bad_train "--data that does not exist" nothere --data nothere
printf 'a,y\n1,0\n2,1\n' >two.csv
bad_train "CSV too small to hold out a test set" "two.csv: 2 samples are too few to hold out 20%" \
    --data two.csv
bad_train "model spec with an unknown layer" "'bogus'" --data "$D" --model "flatten bogus linear:out"
head -c 70000 /dev/zero | tr '\0' '#' >big.spec
bad_train "model spec file larger than 64 KiB" big.spec --data "$D" --model big.spec
bad_train "model spec that does not fit the data" "layer 0 (linear)" --data "$D" --model "linear:out"

echo "# resuming"
bad_train "--resume a checkpoint of another model" other.st --data "$D" --resume other.st
bad_train "--resume a truncated checkpoint" trunc.st --data "$D" --resume trunc.st
bad_train "--resume a checkpoint that does not exist" nothere.st --data "$D" --resume nothere.st
# resuming good.st itself (its own --save) with broken data: good.st must survive
run train --resume good.st --epochs 2 --data cell.csv
expect_rc "--resume good.st with broken --data" 1
one_error_line "--resume good.st with broken --data" cell.csv
unharmed "--resume good.st with broken --data"

echo "# outputs that cannot be written: found before the first step"
mkdir -p adir
for what in "--save nodir/x.st" "--metrics nodir/m.csv" "--plot nodir/p.svg" "--save adir"; do
    set -- $what
    run train --data "$D" "${SMALL[@]}" --epochs 1 "$1" "$2"
    expect_rc "train $what" 1
    one_error_line "train $what" "$1 $2"
    check "train $what: fails before the first step (nothing on stdout)" test ! -s "$T/out"
done
run train --data "$D" "${SMALL[@]}" --epochs 1 --save good.st --plot nodir/p.svg
check "train --plot nodir/p.svg: no probe left next to good.st" \
    test "$(find . -maxdepth 1 -name 'good.st?*' | wc -l)" -eq 0
unharmed "train --save good.st --plot nodir/p.svg"

echo "# labels the model has no output for: the file and the row"
printf 'a,b,y\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n' >three.csv
printf 'a,b,y\n1,2,0\n3,4,7\n5,6,2\n' >seven.csv
run train --data three.csv --model "linear:4 relu linear:out" --epochs 1 --save three.st
expect_rc "setup: a 3-class checkpoint" 0
run eval --load three.st --data seven.csv
expect_rc "eval on data with label 7 for a 3-class model" 1
one_error_line "eval on data with label 7 for a 3-class model" "seven.csv: data row 2 has label 7"
check "eval label 7: not the library's internal text" eval "! grep -q 'loss:' \"\$T/err\""
run train --data three.csv --test seven.csv --model "linear:4 relu linear:out" --epochs 1
expect_rc "train with a --test label the model has no output for" 1
one_error_line "train with a --test label the model has no output for" "seven.csv: data row 2 has label 7"
check "train --test label 7: found before the first step" test ! -s "$T/out"

echo "# --augment: a bad list, and crops of data that are no images"
run train --data "$D" "${SMALL[@]}" --epochs 1 --augment crop=2,flop
expect_rc "--augment crop=2,flop" 2
one_error_line "--augment crop=2,flop" "--augment 'crop=2,flop'"
run train --data three.csv --model "linear:4 relu linear:out" --epochs 1 --augment flip
expect_rc "--augment flip on feature vectors" 2
one_error_line "--augment flip on feature vectors" "needs images (C,H,W); three.csv holds feature vectors"

echo "# a schedule that cannot be: named by its flag, not the schedule's internal state"
run train --data three.csv --model "linear:4 relu linear:out" --epochs 1 --schedule cosine --warmup 50
expect_rc "--schedule cosine --warmup beyond the run" 2
one_error_line "--schedule cosine --warmup beyond the run" "--warmup 50"
check "--warmup 50: no schedule dump" eval "! grep -q 'kind\|base_lr' \"\$T/err\""

echo "# eval, predict and info of broken checkpoints"
for ck in trunc.st short.st garbled.st hugehdr.st reg.csv nothere.st; do
    run eval --load "$ck"
    expect_rc "eval --load $ck" 1
    one_error_line "eval --load $ck" "$ck"
done
run info trunc.st
expect_rc "info trunc.st" 1
one_error_line "info trunc.st" trunc.st
echo "index,class,p0" >p.csv
cp p.csv p.orig
for ck in trunc.st garbled.st; do
    run predict --load "$ck" --out p.csv
    expect_rc "predict --load $ck --out p.csv" 1
    one_error_line "predict --load $ck --out p.csv" "$ck"
    check "predict --load $ck: the existing p.csv is unchanged" cmp -s p.csv p.orig
done
run predict --load good.st --data "$D" --out nodir/p.csv
expect_rc "predict --out nodir/p.csv" 1
one_error_line "predict --out nodir/p.csv" nodir/p.csv

echo "# eval and predict of good checkpoints on bad data"
run eval --load good.st --data cell.csv
expect_rc "eval --data cell.csv" 1
one_error_line "eval --data cell.csv" 'cell.csv:4:5'
run eval --load good.st --data X.npy,y.npy
expect_rc "eval on data of another shape" 1
one_error_line "eval on data of another shape" X.npy
run predict --load good.st --data gz --out p.csv
expect_rc "predict on a truncated gzip" 1
one_error_line "predict on a truncated gzip" gz/t10k-images-idx3-ubyte.gz
check "predict on a truncated gzip: the existing p.csv is unchanged" cmp -s p.csv p.orig
check "no temporary file left next to p.csv" test "$(find . -maxdepth 1 -name 'p.csv?*' | wc -l)" -eq 0

echo "# language models: texts that cannot train, and generate"
: >empty.txt
printf 'x' >one.txt
head -c 300 /dev/zero | tr '\0' 'a' >short.txt
LM=(--model "embedding:vocab,4 gru:6 linear:vocab")
for f in empty one short; do
    run train "${LM[@]}" --data "text:$f.txt" --epochs 1 --save "$T/good.st"
    expect_rc "train on $f.txt" 1
    one_error_line "train on $f.txt" "$f.txt"
    unharmed "train on $f.txt"
done
for i in $(seq 1 300); do printf 'abcab cabd '; done >lm.txt
run train "${LM[@]}" --data text:lm.txt --batch 2 --bptt 8 --epochs 1 --save lm.st \
    --metrics lm.csv --plot lm.svg
expect_rc "setup: a small language model" 0
check "a language model's metrics are bits per char" grep -q "^epoch,train_loss,train_bpc" lm.csv
check "a language model's plot is written" grep -q "bits per char" lm.svg
for opt in "--augment flip" "--val 0.1" "--loss mse" "--limit-train 10"; do
    run train "${LM[@]}" --data text:lm.txt --epochs 1 $opt
    expect_rc "train on a text with $opt" 2
    one_error_line "train on a text with $opt" "${opt%% *} is not for a text"
done
run generate --load lm.st --prompt "abz" --length 5
expect_rc "generate with a prompt byte outside the vocabulary" 2
one_error_line "generate with a prompt byte outside the vocabulary" "byte 0x7a at position 2"
for n in 0 -3; do
    run generate --load lm.st --length "$n"
    expect_rc "generate --length $n" 2
    one_error_line "generate --length $n" "--length"
done
run generate --load good.st
expect_rc "generate from a checkpoint without a vocabulary" 1
one_error_line "generate from a checkpoint without a vocabulary" "good.st: no vocabulary"
run generate --load trunc.st
expect_rc "generate from a truncated checkpoint" 1
one_error_line "generate from a truncated checkpoint" trunc.st
run predict --load lm.st
expect_rc "predict on a language model's checkpoint" 2
one_error_line "predict on a language model's checkpoint" "lamina generate"
run eval --load lm.st --data text:lm.txt --json
expect_rc "eval of a language model's checkpoint" 0
check "eval of a language model's checkpoint reports test bits per char" grep -q '"test_bpc"' "$T/out"
run generate --load lm.st --prompt "ab" --length 40 --seed 9
cp "$T/out" gen1.out
run generate --load lm.st --prompt "ab" --length 40 --seed 9
check "generate: the same seed gives the same text" cmp -s "$T/out" gen1.out
check "generate: prompt then 40 bytes and a newline" \
    test "$(head -c 2 gen1.out)" = ab -a "$(wc -c <gen1.out)" -eq 43

echo "# attention models: bad shapes name the layer; a GPT generates from its window"
GPT="embedding:vocab,8,name=wte posembed:8,name=wpe layernorm attention:2,causal=1,name=attn
add(wpe, .) layernorm linear:vocab,bias=0,tie=wte,name=head"
run train --model "$GPT" --data text:lm.txt --bptt 12 --epochs 1
expect_rc "a context longer than posembed" 1
one_error_line "a context longer than posembed" "posembed wpe): the context is 12 positions"
run train --model "embedding:vocab,6 attention:4,name=attn linear:vocab" --data text:lm.txt \
    --bptt 8 --epochs 1
expect_rc "heads that do not divide the width" 1
one_error_line "heads that do not divide the width" "attention attn): 4 heads do not divide"
run train --model "embedding:vocab,8,name=wte linear:6,tie=wte,name=head" --data text:lm.txt \
    --bptt 8 --epochs 1
expect_rc "a tied layer with a mismatched shape" 1
one_error_line "a tied layer with a mismatched shape" "linear head): tie=wte"
run train --model "$GPT" --data text:lm.txt --batch 2 --bptt 8 --epochs 1 --save gpt.st
expect_rc "setup: a small GPT" 0
run generate --load gpt.st --prompt "abcab cabd abcab" --length 30 --seed 4
cp "$T/out" gpt1.out
run generate --load gpt.st --prompt "abcab cabd abcab" --length 30 --seed 4
check "generate from a GPT: the same seed gives the same text, prompt longer than its window" \
    cmp -s "$T/out" gpt1.out
check "generate from a GPT: prompt then 30 bytes and a newline" test "$(wc -c <gpt1.out)" -eq 47

echo "# data-parallel chunks"
run train --data "$D" "${SMALL[@]}" --epochs 1 --batch 64 --chunk 48
expect_rc "a --chunk that does not divide --batch" 2
one_error_line "a --chunk that does not divide --batch" "--chunk 48 must divide --batch 64"
run train --data fortunes --model char-lstm --chunk 8 --epochs 1
expect_rc "--chunk on a language model" 2
one_error_line "--chunk on a language model" "cannot run in chunks"

finish
