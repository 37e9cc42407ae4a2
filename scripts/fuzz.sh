#!/usr/bin/env bash
# Builds every libFuzzer target fuzz/<name>_fuzz.cpp with clang and runs each for N seconds,
# starting from the committed seeds in tests/data/fuzz/<name>_fuzz/. New corpus entries go to
# the build directory, never into the seeds. Exits non-zero if any target crashes.
#
# Usage: scripts/fuzz.sh [seconds-per-target (default 20)] [target ...]
#   FS_FUZZ_BUILD_DIR  build directory (default <repo>/build-fuzz; reused if configured for fuzzing)
#   CXX                compiler (default clang++)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
shift || true
build=${FS_FUZZ_BUILD_DIR:-$root/build-fuzz}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/fuzz/*_fuzz.cpp; do
    targets+=("$(basename "$src" .cpp)")
  done
fi

# A build directory already configured for fuzzing (scripts/test.sh's build-asan) is reused as is.
if ! grep -q '^FLASHSTREAM_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
    -DFLASHSTREAM_FUZZ=ON -DFLASHSTREAM_TESTS=OFF -DFLASHSTREAM_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j2 --target "${targets[@]}"

failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [ -d "$root/tests/data/fuzz/$t" ] && seeds+=("$root/tests/data/fuzz/$t")
  echo "== $t: ${secs}s, seeds: ${seeds[*]:-none}"
  if ! "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}"; then
    echo "!! $t crashed; reproducer in $artifacts/"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${secs}s each without crashes"
