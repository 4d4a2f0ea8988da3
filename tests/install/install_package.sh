#!/bin/sh
# Install test: installs a finished build into a scratch prefix, checks the layout and the exported
# symbols, then builds examples/hello_strata against it with CMake and with pkg-config and runs it.
# Usage: install_package.sh BUILD_DIR EXAMPLES_DIR WORK_DIR CMAKE CC [PKG_CONFIG]
# STRATA_EXAMPLE_CFLAGS: extra flags for the consumers (the sanitizer flags of a sanitized build).
set -eu
build=$1 examples=$2 work=$3 cmake=$4 cc=$5 pkgconfig=${6:-}
cflags=${STRATA_EXAMPLE_CFLAGS:-}
prefix=$work/prefix

step() { echo "== install_package: $*"; }
fail() { echo "install_package: FAIL: $*" >&2; exit 1; }
# run_logged LOG CMD...: runs CMD quietly; on failure shows the end of its output.
run_logged() {
    log=$1; shift
    "$@" > "$log" 2>&1 || { tail -n 60 "$log" >&2; fail "$*"; }
}
# resolves_from EXE DIR: EXE must load libstrata from DIR, not from the build tree or the system.
resolves_from() {
    got=$(ldd "$1" | awk '/libstrata\.so/ {print $3}')
    if [ -z "$got" ] || [ "$(cd "$(dirname "$got")" && pwd -P)" != "$(cd "$2" && pwd -P)" ]; then
        fail "$1 loads libstrata from '$got', expected $2"
    fi
}

# The search must find the installed plugins on its own, not whatever the caller points at.
unset STRATA_PLUGIN_PATH STRATA_BACKEND STRATA_DEVICE
rm -rf "$work"
mkdir -p "$work"

step "bringing $build up to date"
run_logged "$work/build.log" "$cmake" --build "$build"

step "installing into $prefix"
run_logged "$work/install.log" "$cmake" --install "$build" --prefix "$prefix"
lib=$(find "$prefix" -name libstrata.so | head -n 1)
[ -n "$lib" ] || fail "no libstrata.so under $prefix"
libdir=$(dirname "$lib")
for f in include/strata/strata.h include/strata/backend_abi.h; do
    [ -f "$prefix/$f" ] || fail "missing $prefix/$f"
done
for f in cmake/Strata/StrataConfig.cmake cmake/Strata/StrataConfigVersion.cmake \
         cmake/Strata/StrataTargets.cmake pkgconfig/strata.pc; do
    [ -f "$libdir/$f" ] || fail "missing $libdir/$f"
done
[ -e "$libdir/libstrata.so.0" ] || fail "missing soname link $libdir/libstrata.so.0"

step "plugins beside libstrata"
plugins=""
for p in "$build"/lib/libstrata-*.so; do
    [ -e "$p" ] || continue
    name=$(basename "$p" .so)
    name=${name#libstrata-}
    [ -f "$libdir/libstrata-$name.so" ] || fail "plugin $name built but not installed in $libdir"
    plugins="$plugins $name"
done
stray=$(find "$prefix" -name 'libstrata-*.so' ! -path "$libdir/*" | head -n 1)
[ -z "$stray" ] || fail "plugin installed outside $libdir: $stray"
[ -z "$(find "$libdir" -mindepth 2 -name 'libstrata-*.so')" ] || fail "plugin in a subdirectory"
echo "plugins:${plugins:- (none built)}"

step "libstrata exports only the public st_* API"
# Sanitizer instrumentation adds symbols of its own (ODR indicators); they are not ours to judge.
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' \
    | grep -v -e '^__odr_asan' -e '^__asan' -e '^__ubsan' -e '^_init$' -e '^_fini$' \
    | sort -u > "$work/symbols.txt"
bad=$(grep -v '^st_' "$work/symbols.txt" | tr '\n' ' ' || true)
[ -z "$bad" ] || fail "non-API symbols exported: $bad"
# The headers preprocessed: some declarations are generated from the op table (st_gelu, ...).
"$cc" -E -P -I"$prefix/include" -x c "$prefix/include/strata/strata.h" > "$work/api.i" \
    || fail "the installed headers do not preprocess"
undeclared=""
while read -r sym; do
    grep -qw "$sym" "$work/api.i" || undeclared="$undeclared $sym"
done < "$work/symbols.txt"
[ -z "$undeclared" ] || fail "exported but in no public header:$undeclared"
echo "$(wc -l < "$work/symbols.txt") symbols, all st_* and declared in include/strata/"

step "consumer built with find_package(Strata)"
run_logged "$work/cmake-configure.log" "$cmake" -S "$examples" -B "$work/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
found=$(sed -n 's/^Strata_DIR:PATH=//p' "$work/cmake-build/CMakeCache.txt")
[ "$found" = "$libdir/cmake/Strata" ] || fail "find_package found Strata in '$found'"
run_logged "$work/cmake-build.log" "$cmake" --build "$work/cmake-build"
hello=$work/cmake-build/hello_strata
resolves_from "$hello" "$libdir"
STRATA_BACKEND=cpu "$hello" || fail "hello_strata (CMake build) on cpu"

if [ -n "$pkgconfig" ]; then
    step "consumer built with pkg-config"
    PKG_CONFIG_PATH=$libdir/pkgconfig
    export PKG_CONFIG_PATH
    echo "strata.pc: version $("$pkgconfig" --modversion strata)," \
         "flags: $("$pkgconfig" --cflags --libs strata)"
    # shellcheck disable=SC2046,SC2086 # the flags are meant to be split
    "$cc" $cflags -o "$work/hello_pc" "$examples/hello_strata.c" \
        $("$pkgconfig" --cflags --libs strata) || fail "compiling with pkg-config flags"
    (
        LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        export LD_LIBRARY_PATH
        resolves_from "$work/hello_pc" "$libdir"
        STRATA_BACKEND=cpu "$work/hello_pc" || fail "hello_strata (pkg-config build) on cpu"
    )
else
    step "pkg-config not found at configure time: pkg-config consumer skipped"
fi

step "installed plugins behave as in the build tree"
# No GPU is needed: each backend must end the same way (runs, no device, cannot load a vendor
# runtime, ...) from the install as from the build tree, which catches plugins not found beside the
# installed libstrata and vendor libraries lost with the build tree's RPATH.
# shellcheck disable=SC2086 # the flags are meant to be split
"$cc" $cflags -I"$examples/../include" -o "$work/hello_build" "$examples/hello_strata.c" \
    -L"$build/lib" -Wl,-rpath,"$build/lib" -lstrata || fail "compiling against the build tree"
# outcome BACKEND EXE: "ok" or the first status name in the error message.
outcome() {
    if STRATA_BACKEND=$1 "$2" > "$work/outcome.txt" 2>&1; then
        echo ok
    else
        grep -o 'ST_ERR_[A-Z_]*' "$work/outcome.txt" | head -n 1
    fi
}
for name in $plugins; do
    want=$(outcome "$name" "$work/hello_build")
    got=$(outcome "$name" "$hello")
    echo "$name: build tree $want, installed $got: $(tail -n 1 "$work/outcome.txt")"
    [ "$got" = "$want" ] || fail "backend $name differs between the build tree and the install"
done

if [ -e "$build/bin/strata-info" ]; then
    step "installed strata-info runs"
    info=$prefix/bin/strata-info
    [ -x "$info" ] || fail "strata-info built but not installed in $prefix/bin"
    resolves_from "$info" "$libdir"
    "$info" > "$work/strata-info.txt" 2>&1 \
        || { cat "$work/strata-info.txt" >&2; fail "strata-info"; }
    head -n 40 "$work/strata-info.txt"
fi
step "OK"
