#!/usr/bin/env bash
# trust: `lamina train --data <bad file>` for every data-format case of manifest.txt (IDX,
# CSV, NPY): exit status 1 and exactly one stderr line "lamina: error: ..." that contains
# the manifest's fragment (which names the file at fault).
#   usage: cli_badfiles.sh LAMINA BADFILES_DIR
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 LAMINA BADFILES_DIR" >&2
    exit 2
fi
LAMINA=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
DIR=$(cd "$2" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-badfiles.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1 # whatever train might write lands in the temporary directory

n_pass=0
n_fail=0
n_line=0
while IFS= read -r line; do
    n_line=$((n_line + 1))
    case $line in '#'* | '') continue ;; esac
    path=${line%% | *}
    rest=${line#* | }
    loader=${rest%% | *}
    rest=${rest#* | }
    status=${rest%% | *}
    frag=${rest#* | }
    [ "$status" = LAM_OK ] && continue
    data="$DIR/$path"
    extra=()
    case $loader in
    idx-images | csv | npy) ;;
    csv-classify) extra=(--task classify) ;;
    text) data="text:$DIR/$path" ;;
    idx-pair:* | npy-pair:*) data="$data,$DIR/${loader#*:}" ;;
    *) continue ;; # checkpoints: covered by test_badfiles
    esac
    "$LAMINA" train --data "$data" "${extra[@]}" --epochs 1 >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(wc -l <"$T/err")
    first=$(head -n 1 "$T/err")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ "${first#lamina: error: }" != "$first" ] &&
        grep -qF -- "$frag" "$T/err"; then
        n_pass=$((n_pass + 1))
    else
        n_fail=$((n_fail + 1))
        echo "FAIL - manifest line $n_line ($path, $loader): exit $rc, $lines stderr line(s)," \
            "want exit 1 and one 'lamina: error: ...$frag...'"
        head -n 3 "$T/err" | sed 's/^/    | /'
    fi
done <"$DIR/manifest.txt"
echo "cli: $n_pass passed, $n_fail failed"
[ "$n_pass" -ge 60 ] || { echo "FAIL - only $n_pass data cases ran"; exit 1; }
[ "$n_fail" -eq 0 ]
