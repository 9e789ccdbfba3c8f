#!/usr/bin/env bash
# Build llama.cpp's own llama-bench and llama-server from the same vendored source as paddler,
# so benchmarks compare like with like. Output: build/llama-tools/bin/. Reuses the ccache cache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source_dir="${LLAMA_CPP_DIR:-$root/vendor/llama.cpp}"
build_dir="$root/build/llama-tools"
cache_root="${PADDLER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paddler}"
if [ ! -f "$source_dir/include/llama.h" ]; then
  python3 "$root/tools/fetch_llama_cpp.py" "$source_dir"
fi
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-$cache_root/ccache}" CCACHE_BASEDIR="$root"
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$source_dir" -B "$build_dir" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" --target llama-bench llama-server -j "$(nproc)"
echo "$build_dir/bin"
