#!/usr/bin/env bash
# Install test: `meson install` a build into a staging directory (--destdir, with the build's
# own prefix), then build and run outside programs against it the way a user does, with
# pkg-config.
#
#   run.sh c|fortran BUILD_DIR SOURCE_DIR
#
# c:       checks what lamina.pc gives an outside consumer, builds tests/install/app.c against
#          the shared library and against the static one (pkg-config --static), runs both.
# fortran: builds tests/install/app.f90 with gfortran and lamina-fortran.pc, runs it. Exits
#          77 (skip) when gfortran is missing or the build has no Fortran binding.
#
# The .pc files name the configured prefix, not the staging directory, so the -I and -L
# flags that point into the prefix are moved into the staging directory (what DESTDIR
# packaging does); every other flag is used exactly as pkg-config prints it.
set -euo pipefail
mode=$1
build=$2
src=$3
MESON=${MESON:-meson}
CC=${CC:-cc}
FC=${FC:-gfortran}

if [ "$mode" = fortran ] && ! command -v "$FC" >/dev/null 2>&1; then
    echo "SKIP: no Fortran compiler ($FC)"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
"$MESON" install -C "$build" --destdir "$stage" --no-rebuild --quiet >/dev/null

pc=$(find "$stage" -path '*/pkgconfig/lamina.pc' | head -n 1)
if [ -z "$pc" ]; then
    echo "FAIL: no lamina.pc was installed"
    exit 1
fi
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
prefix=$(pkg-config --variable=prefix lamina)
includedir=$(pkg-config --variable=includedir lamina)
libdir=$(pkg-config --variable=libdir lamina)
echo "installed to $stage (prefix $prefix)"

fail() {
    echo "FAIL: $*"
    exit 1
}

# pkg-config's output for a package, with the prefix's -I/-L moved into the staging dir.
staged_flags() {
    local out=() w
    for w in $(pkg-config "$@"); do
        case $w in
            "-I$includedir") out+=("-I$stage$includedir") ;;
            "-L$libdir") out+=("-L$stage$libdir") ;;
            *) out+=("$w") ;;
        esac
    done
    # pkg-config drops -I/usr/include (a system directory): a prefix of /usr needs it back.
    if [ "$includedir" = /usr/include ]; then
        out+=("-I$stage/usr/include")
    fi
    echo "${out[@]}"
}

for f in "$includedir/lamina.h" "$includedir/lamina/core.h" "$includedir/lamina/model.h" \
         "$includedir/lamina/optim.h" "$includedir/lamina/data.h" \
         "$includedir/lamina/fit.h" "$libdir/liblamina.a"; do
    [ -f "$stage$f" ] || fail "$f was not installed"
done
ls "$stage$libdir"/liblamina.so* >/dev/null 2>&1 || fail "liblamina.so was not installed"

if [ "$mode" = c ]; then
    # What an outside consumer gets: the library and the include dir, nothing of the build.
    libs=" $(pkg-config --libs lamina) "
    case $libs in *" -llamina "*) ;; *) fail "pkg-config --libs lamina: $libs" ;; esac
    if [ "$includedir" != /usr/include ]; then
        cflags=" $(pkg-config --cflags lamina) "
        case $cflags in *" -I$includedir "*) ;; *) fail "pkg-config --cflags: $cflags" ;; esac
    fi
    # The static library needs its dependencies: BLAS, LAPACKE, zlib, jansson, OpenMP.
    static=" $(pkg-config --static --libs lamina) "
    echo "pkg-config --static --libs lamina:$static"
    for l in -lz -ljansson; do
        case $static in *" $l "*) ;; *) fail "pkg-config --static lacks $l" ;; esac
    done

    warn=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
    # shellcheck disable=SC2046
    # -lm is the app's own (it calls sinf).
    "$CC" "${warn[@]}" "$src/tests/install/app.c" $(staged_flags --cflags --libs lamina) -lm \
        -o "$tmp/app_shared"
    # The staged library, not one installed on the system, must be the one loaded. The
    # output is read whole first: under pipefail, `ldd | grep -q` fails whenever grep's early
    # exit stops ldd with SIGPIPE (a suite run here failed that way about one time in three).
    deps=$(LD_LIBRARY_PATH="$stage$libdir" ldd "$tmp/app_shared")
    case $deps in *"$stage$libdir/liblamina"*) ;; *) fail "app_shared does not load the staged liblamina.so" ;; esac
    echo "== app (shared library)"
    LD_LIBRARY_PATH="$stage$libdir" "$tmp/app_shared" "$tmp/shared.safetensors"

    # Static: liblamina.a, then the libraries pkg-config --static lists, dynamically.
    sflags=()
    for w in $(staged_flags --cflags --static --libs lamina); do
        if [ "$w" = -llamina ]; then
            sflags+=("-Wl,-Bstatic" -llamina "-Wl,-Bdynamic")
        else
            sflags+=("$w")
        fi
    done
    "$CC" "${warn[@]}" "$src/tests/install/app.c" "${sflags[@]}" -o "$tmp/app_static"
    deps=$(readelf -d "$tmp/app_static")
    case $deps in *liblamina.so*) fail "app_static still needs liblamina.so" ;; esac
    echo "== app (static library)"
    "$tmp/app_static" "$tmp/static.safetensors"
    echo "1 passed"
    exit 0
fi

# Fortran.
pcf=$(dirname "$pc")/lamina-fortran.pc
if [ ! -f "$pcf" ] || [ ! -f "$stage$includedir/lamina.mod" ]; then
    echo "SKIP: this build has no Fortran binding (lamina-fortran.pc, lamina.mod)"
    exit 77
fi
# shellcheck disable=SC2046
"$FC" -Wall -Wextra -Werror "$src/tests/install/app.f90" \
    $(staged_flags --cflags --libs lamina-fortran) -o "$tmp/app_f"
echo "== app_f (Fortran, shared libraries)"
LD_LIBRARY_PATH="$stage$libdir" "$tmp/app_f" "$tmp/fortran.safetensors"
echo "1 passed"
