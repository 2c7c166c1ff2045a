#!/bin/bash
# cli: usage errors exit 2 with one "lamina: error:" line, before touching any data or file:
# bad or out-of-range numbers (each message names its flag alone), bad names and
# combinations; --help on every command exits 0 and prints its usage; train --help lists
# every flag the README documents. (ranges.py tries every numeric flag of every command.)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$T/w"
cd "$T/w" || exit 1
echo "precious" >keep.st
cp keep.st keep.orig

# usage_error DESC NEEDLE ARGS...: exit 2, one error line containing NEEDLE.
usage_error() {
    local desc=$1 needle=$2
    shift 2
    run "$@"
    expect_rc "$desc" 2
    one_error_line "$desc" "$needle"
}

echo "# commands"
usage_error "unknown command" "unknown command 'trian'" trian --epochs 1
run
expect_rc "no command" 2
check "no command: usage on stderr" grep -q "^usage: lamina <command>" "$T/err"

echo "# lamina train (with --save keep.st and --data that does not exist: neither is touched)"
T_ARGS=(--data "$T/does-not-exist" --save "$T/w/keep.st")
usage_error "unknown flag" "unknown option '--epoch'" train "${T_ARGS[@]}" --epoch 3
usage_error "unknown flag with =value" "unknown option '--bogus'" train "${T_ARGS[@]}" --bogus=1
usage_error "missing value (last argument)" "--epochs needs a value" train "${T_ARGS[@]}" --epochs
usage_error "bad integer" "--epochs expects an integer in 1..10000, got 'abc'" train "${T_ARGS[@]}" --epochs abc
usage_error "bad integer (trailing junk)" "--batch expects an integer in 1..65536, got '32x'" train "${T_ARGS[@]}" --batch 32x
usage_error "bad integer with =" "--seed expects an integer" train "${T_ARGS[@]}" --seed=1.5
usage_error "integer that overflows int64" "--threads 99999999999999999999 is out of range: N in 1..1024" \
    train "${T_ARGS[@]}" --threads 99999999999999999999
usage_error "bad number" "--lr expects a number in (0, 1e+09], got 'fast'" train "${T_ARGS[@]}" --lr fast
usage_error "number that overflows" "--lr 1e999 is not a finite number: X in (0, 1e+09]" train "${T_ARGS[@]}" --lr 1e999
usage_error "NaN as a number" "--momentum nan is not a finite number: X in [0, 1)" train "${T_ARGS[@]}" --momentum nan
usage_error "decimal comma" "--lr expects a number in (0, 1e+09], got '0,1'" train "${T_ARGS[@]}" --lr 0,1
usage_error "flag given a value" "--json takes no value" train "${T_ARGS[@]}" --json=yes
usage_error "stray positional argument" "unexpected argument 'extra'" train "${T_ARGS[@]}" extra
usage_error "--optimizer bogus" "--optimizer must be" train "${T_ARGS[@]}" --optimizer bogus
usage_error "--schedule bogus" "--schedule must be" train "${T_ARGS[@]}" --schedule linear
usage_error "--nan-policy bogus" "--nan-policy must be" train "${T_ARGS[@]}" --nan-policy ignore
usage_error "--task bogus" "--task must be" train "${T_ARGS[@]}" --task cluster
usage_error "--loss bogus" "--loss must be" train "${T_ARGS[@]}" --loss hinge
usage_error "--batch 0" "--batch" train "${T_ARGS[@]}" --batch 0
usage_error "--epochs 0" "--epochs" train "${T_ARGS[@]}" --epochs 0
usage_error "--val 1" "--val" train "${T_ARGS[@]}" --val 1
usage_error "--lr -1" "--lr" train "${T_ARGS[@]}" --lr -1

# only_flag DESC FLAG: the error line names FLAG and no other flag (but --help)
only_flag() {
    local others
    others=$(grep -o -- '--[a-z][a-z-]*' "$T/err" | grep -vx -- "$2" | grep -vx -- --help | sort -u | tr '\n' ' ')
    check "$1: the message names $2 and no other flag${others:+ (also: $others)}" test -z "$others"
}

echo "# numbers a user typed are never taken for 'not given' (issue 17's table)"
for a in "--epochs -1" "--epochs -3" "--batch -5" "--batch 0" "--threads 0" "--threads -2" \
    "--seed -1" "--limit-train -5" "--save-every -5" "--warmup -3" "--momentum -1" "--gamma -1"; do
    set -- $a
    usage_error "train $a" "$1 $2 is out of range" train "${T_ARGS[@]}" "$1" "$2"
    only_flag "train $a" "$1"
done
check "--momentum -1: not the library's internal text" eval "! grep -q optim_create \"\$T/err\""
usage_error "eval --limit -1" "--limit -1 is out of range" eval --load keep.st --limit -1
usage_error "predict --limit 0" "--limit 0 is out of range" predict --load keep.st --limit 0
usage_error "predict --precision 0" "--precision 0 is out of range: N in 1..17" predict --load keep.st --precision 0

echo "# combinations of options"
usage_error "--momentum with adam" "--momentum is for sgd, nesterov and rmsprop" \
    train "${T_ARGS[@]}" --optimizer adam --momentum 0.5
usage_error "nesterov without momentum" "--optimizer nesterov needs a --momentum above 0" \
    train "${T_ARGS[@]}" --optimizer nesterov --momentum 0
usage_error "--save-every without --save" "--save-every needs --save" \
    train --data "$T/does-not-exist" --save-every 10
check "train usage errors: keep.st untouched" cmp -s keep.st keep.orig
check "train usage errors: nothing written next to keep.st" test "$(ls | wc -l)" -eq 2

echo "# lamina eval, predict, info"
usage_error "eval without --load" "--load FILE is required" eval
usage_error "eval unknown flag" "unknown option '--out'" eval --load keep.st --out x.csv
usage_error "eval missing value" "--load needs a value" eval --load
usage_error "eval bad integer" "--batch expects an integer" eval --load keep.st --batch many
usage_error "predict --batch 0" "--batch 0 is out of range: N in 1..65536" predict --load keep.st --batch 0
usage_error "predict unknown flag" "unknown option '--outfile'" predict --load keep.st --outfile x.csv
usage_error "info with nothing" "give either --model" info
usage_error "info --model without --input" "--input must be" info --model seed-cnn
usage_error "info --input malformed" "--input must be" info --model seed-cnn --input 1x28x28x2
usage_error "info --classes not a number" "--classes expects an integer" info --model seed-cnn --input 1x28x28 --classes ten
usage_error "info both a file and --model" "give either" info keep.st --model seed-cnn --input 1x28x28
usage_error "eval --split bogus" "--split must be test (alias t10k), train or all" eval --load keep.st --split dev
I_ARGS=(--weights keep.st --model mlp --input 4 --out "$T/w/new.st")
for f in --weights --model --input --out; do
    args=()
    for ((i = 0; i < ${#I_ARGS[@]}; i += 2)); do
        [ "${I_ARGS[i]}" = "$f" ] || args+=("${I_ARGS[i]}" "${I_ARGS[i + 1]}")
    done
    usage_error "import without $f" "$f" import "${args[@]}"
done
usage_error "import --mean without --std" "--mean and --std go together" import "${I_ARGS[@]}" --mean 0.5
usage_error "import --mean of the wrong length" "--mean expects 4 comma-separated numbers" \
    import "${I_ARGS[@]}" --mean 1,2 --std 1,1,1,1
usage_error "import --std 0" "--std: 0 is not a float32 number above 0" \
    import "${I_ARGS[@]}" --mean 1,2,3,4 --std 1,0,1,1
usage_error "import --input malformed" "--input must be" import --weights keep.st --model mlp --input 3x4x4x4 --out new.st
check "import usage errors: nothing written" test ! -e new.st
check "eval/predict/info usage errors: keep.st untouched" cmp -s keep.st keep.orig

echo "# --help"
for cmd in train eval predict info import; do
    for h in --help -h; do
        run $cmd $h
        expect_rc "$cmd $h" 0
        check "$cmd $h: usage on stdout" grep -q "^usage: lamina $cmd" "$T/out"
        check "$cmd $h: nothing on stderr" test ! -s "$T/err"
    done
done
run --help
expect_rc "lamina --help" 0
check "lamina --help lists the five commands" \
    test "$(grep -cE '^  (train|eval|predict|info|import) ' "$T/out")" -eq 5
run --version
expect_rc "lamina --version" 0
check "lamina --version prints the version" grep -qE '^lamina [0-9]+\.[0-9]+\.[0-9]+$' "$T/out"

run train --help
flags=$(awk '/^Flags of `lamina train`/ { f = 1; next } f && /^\|/ { print } f && /^$/ && n++ > 0 { exit }' \
    "$SRC/README.md" | grep -o -- '`--[a-z-]*' | tr -d '`' | sort -u)
n_flags=$(echo "$flags" | grep -c -- '^--')
check "README documents the train flags ($n_flags found)" test "$n_flags" -ge 25
missing=""
for f in $flags; do
    grep -qE -- "^  $f( |$)" "$T/out" || missing="$missing $f"
done
check "train --help lists every flag of the README's table${missing:+ (missing:$missing)}" test -z "$missing"
for f in --load --data --split --target --task --batch --threads --limit; do
    for cmd in eval predict; do
        run $cmd --help
        check "$cmd --help lists $f" grep -qE -- "^  $f( |$)" "$T/out"
    done
done
run eval --help
check "eval --help lists --json" grep -qE -- "^  --json( |$)" "$T/out"
run predict --help
for f in --out --logits --precision; do
    check "predict --help lists $f" grep -qE -- "^  $f( |$)" "$T/out"
done
check "eval/predict --help document --split test" grep -qE -- "^  --split .*test" "$T/out"
run import --help
for f in --weights --model --input --out --classes --mean --std --strip-prefix --allow-unused; do
    check "import --help lists $f" grep -qE -- "^  $f( |$)" "$T/out"
done
run train --help
check "train --help: --save writes after each epoch (not 'at the end')" \
    grep -qE -- "^  --save FILE .*after each epoch" "$T/out"
run info --help
check "info --help lists --model, --input, --classes" \
    test "$(grep -cE -- '^  --(model|input|classes) ' "$T/out")" -eq 3

finish
