#!/usr/bin/env bash
# Every GPU test and benchmark of the CUDA backend in one call, with a report.
#
# Usage: scripts/gpu_suite.sh [OUT_DIR]        (default: $OUT if set, else ./gpu_report)
# Writes OUT_DIR/gpu_report.md (device, test summary, GEMV bandwidth table),
# cuda_tests.log, cuda_tests.xml and bench_cuda_matmul.json. Exit status: 0 when every test
# passed and the benchmark ran.
#
# Build: with CMake (FLASHSTREAM_CUDA=ON, sm_90, -j$(nproc)) into build-gpu, which needs the
# apt packages of scripts/setup.sh on the GPU machine. FS_GPU_DEPS may name a folder with
# missing ones unpacked under usr/ (headers, static libraries, pkg-config files); it is
# used as pkg-config sysroot and CMake prefix. Or build elsewhere (same architecture) and
# set FS_GPU_PREBUILT to a folder holding cuda_tests and bench_cuda_matmul; a lib/ folder
# beside them (the shared libraries they need) goes on LD_LIBRARY_PATH.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_report}}
mkdir -p "$out"
report=$out/gpu_report.md
status=0

if [[ -n "${FS_GPU_PREBUILT:-}" ]]; then
  bin=$FS_GPU_PREBUILT
  tests=$bin/cuda_tests
  bench=$bin/bench_cuda_matmul
  build_note="prebuilt binaries from $bin"
  export LD_LIBRARY_PATH="$bin/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
else
  if [[ -n "${FS_GPU_DEPS:-}" ]]; then
    export PKG_CONFIG_SYSROOT_DIR=$FS_GPU_DEPS
    export PKG_CONFIG_PATH="$FS_GPU_DEPS/usr/lib/x86_64-linux-gnu/pkgconfig"
    export CMAKE_PREFIX_PATH="$FS_GPU_DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  fi
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFLASHSTREAM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DFLASHSTREAM_BENCH=ON -DFLASHSTREAM_TESTS=ON >"$out/build.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target cuda_tests bench_cuda_matmul >>"$out/build.log" 2>&1 ||
    { echo "build failed; see $out/build.log"; tail -30 "$out/build.log"; exit 1; }
  tests=build-gpu/tests/cuda_tests
  bench=build-gpu/bench/bench_cuda_matmul
  build_note="built here with CMake (sm_90)"
fi

device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
echo "device: $device"

FS_REQUIRE_CUDA=1 "$tests" --gtest_output="xml:$out/cuda_tests.xml" >"$out/cuda_tests.log" 2>&1 || status=1
grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran" "$out/cuda_tests.log"

"$bench" >"$out/bench_cuda_matmul.json" 2>"$out/bench_cuda_matmul.err" || { status=1; cat "$out/bench_cuda_matmul.err"; }

python3 - "$out" "$device" "$build_note" "$status" <<'PY' >"$report"
import json, re, sys
out, device, build_note, status = sys.argv[1:5]
log = open(f"{out}/cuda_tests.log").read()
print("# CUDA backend: GPU test and benchmark report\n")
print(f"- device: {device}")
print(f"- build: {build_note}")
print("- command: `scripts/gpu_suite.sh` (tests: `FS_REQUIRE_CUDA=1 cuda_tests`; bench: `bench_cuda_matmul`)")
print(f"- overall: {'PASS' if status == '0' else 'FAIL'}\n")
print("## Tests (CUDA vs CPU backend)\n")
for line in log.splitlines():
    if re.match(r"^\[ +(OK|FAILED|SKIPPED) +\] \w", line) or "tests ran" in line or line.startswith("[  PASSED"):
        print(f"    {line}")
try:
    b = json.load(open(f"{out}/bench_cuda_matmul.json"))
except Exception as e:  # the bench failed; its stderr is in the log folder
    print(f"\nbench_cuda_matmul produced no JSON: {e}")
    sys.exit(0)
print(f"\n## Decode GEMV bandwidth (one token)\n\n{b['device']}. Ceilings measured in the same run: "
      f"device-to-device cudaMemcpy {b['d2d_copy_GBps']:.0f} GB/s, copy kernel {b['kernel_copy_GBps']:.0f} GB/s "
      f"(1 GiB, bytes read + written).\n")
print("| dtype | weight | MiB | us/call | GB/s | / cudaMemcpy D2D | / copy kernel |")
print("|---|---|---|---|---|---|---|")
for r in b["results"]:
    print(f"| {r['dtype']} | {r['n_out']}x{r['n_in']} | {r['weight_bytes'] / 2**20:.1f} | "
          f"{r['us_per_call']:.2f} | {r['GBps']:.0f} | {r['ratio_to_d2d']:.2f} | {r['ratio_to_kernel_copy']:.2f} |")
PY
cat "$report"
exit $status
