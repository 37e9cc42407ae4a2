#!/usr/bin/env bash
# The README's second command: set up, then run the whole test suite: unit, golden and
# end-to-end tests (release build), the Python tests (pytest), the same C++ tests under
# AddressSanitizer + UBSan, and every fuzz target for a short fixed time.
#   FS_FUZZ_SECONDS  seconds per fuzz target (default 20)
#   FS_SKIP_SANITIZE=1 / FS_SKIP_FUZZ=1 skip those stages (local iteration only)
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(scripts/setup.sh | tail -n 1)"
export FS_MODEL_SMOLLM2="$model"
cache="${FLASHSTREAM_CACHE:-$HOME/.cache/flashstream}"
# The Llama-2 SentencePiece vocabulary for tokenizer tests, placed there by setup.sh.
export FS_SHARED_DATA="${FS_SHARED_DATA:-$cache/vocab}"
export FS_TOKENIZER_LLAMA3="${FS_TOKENIZER_LLAMA3:-$cache/tokenizers/llama3}"
export FS_TOKENIZER_QWEN3="${FS_TOKENIZER_QWEN3:-$cache/tokenizers/qwen3}"
export FS_MODEL_GEMMA3="${FS_MODEL_GEMMA3:-$cache/models/gemma-3-270m-q4_k_m.gguf}"
jobs="$(nproc)"
# Prints how long the previous stage took, then the next stage's name.
stage() { echo "== $1 (setup and earlier stages took ${SECONDS}s so far)"; }

stage "release tests"
ctest --test-dir build --output-on-failure -j"$jobs"

# The Python API, the openai client against `flashstream serve`, the chat page in headless
# Chromium (loopback only).
stage "Python tests"
FS_CLI="$PWD/build/flashstream" FS_PYTHON_PATH="$PWD/build/python" python3 -m pytest -q tests/python

# One clang build serves both sanitizer stages: the library and tests with ASan + UBSan (and the
# fuzzers' coverage hooks), the fuzz targets linked against the same objects. -O1 -g1 keeps the
# build short; stack traces still name file:line.
if [ "${FS_SKIP_SANITIZE:-0}" != 1 ] || [ "${FS_SKIP_FUZZ:-0}" != 1 ]; then
  stage "ASan/UBSan + fuzz build (clang)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_CXX_COMPILER=clang++ -DFLASHSTREAM_SANITIZE=ON -DFLASHSTREAM_FUZZ=ON -DFLASHSTREAM_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$jobs" >/dev/null
fi

if [ "${FS_SKIP_SANITIZE:-0}" != 1 ]; then
  stage "ASan/UBSan tests"
  # Every test but the whole-model runs repeated with --act int8x2/int8x3 (the release stage runs
  # them; the matmul unit tests cover those kernels under the sanitizers): a real model under
  # ASan takes minutes, and CI stays under 30.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -E '/int8x[23]( |$)|WithInt8x3Activations'
fi

if [ "${FS_SKIP_FUZZ:-0}" != 1 ]; then
  stage "fuzz targets"
  FS_FUZZ_BUILD_DIR="$PWD/build-asan" scripts/fuzz.sh "${FS_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed in ${SECONDS}s"
