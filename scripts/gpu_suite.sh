#!/usr/bin/env bash
# Every GPU test and benchmark in one call, with a report.
#
# Usage: scripts/gpu_suite.sh [OUT_DIR]        (default: $OUT if set, else ./gpu_report)
# Writes OUT_DIR/gpu_report.md (scripts/gpu_report.py) from, in OUT_DIR:
#   cuda_tests.log/.xml     all CUDA tests, FS_REQUIRE_CUDA=1 (no skipping for want of a GPU);
#                           the real-model ones run when FS_MODEL_SMOLLM2 names the SmolLM2 GGUF
#   bench_cuda_matmul.json  decode GEMV bandwidth per dtype against the HBM copy ceilings
#   decode_<dtype>.json     7B-shaped synthetic models (flashstream synth, llama2 shape) for
#                           f16 bf16 q8_0 q4_0: resident decode vs HBM, 2k prefill (bf16 GEMMs)
#   decode_f16_nographs.json  the f16 decode with FS_CUDA_GRAPHS=0 (kernel by kernel), for comparison
#   stream_bf16_vram4.json  the bf16 model with --vram 4: streamed decode vs pinned PCIe
#   prefill_f32_q4_0.json   2k prefill through the exact f32 GEMMs, for comparison
#   torch_bf16.json         PyTorch's bf16 matmul rate (8192^3), the peak the prefill is held to
# Exit status: 0 when every test passed and every benchmark ran.
#
# Environment: FS_GPU_PREBUILT=DIR runs prebuilt binaries (flashstream, cuda_tests,
# bench_cuda_matmul, bench_cuda_decode; DIR/lib on LD_LIBRARY_PATH) instead of building with
# CMake into build-gpu (which needs scripts/setup.sh's apt packages, or FS_GPU_DEPS: a folder
# with them unpacked, see scripts/gpu_deps.sh). FS_GPU_VOCAB: the vocabulary GGUF of the
# synthetic models (default ~/.cache/flashstream/vocab/llama2-spm-vocab-only.gguf).
# FS_GPU_MODELS: where they are written (default /tmp/fs_gpu_models; reused when present).
# FS_GPU_TESTS: a gtest filter (default all). FS_GPU_SKIP_BENCH=1: tests only. FS_GPU_DTYPES: the
# synthetic models' dtypes (default "f16 bf16 q8_0 q4_0").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)  # gpu_report.py sits beside this script
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_report}}
mkdir -p "$out"
status=0

if [[ -n "${FS_GPU_PREBUILT:-}" ]]; then
  bin=$FS_GPU_PREBUILT
  cli=$bin/flashstream
  tests=$bin/cuda_tests
  bench=$bin/bench_cuda_matmul
  decode=$bin/bench_cuda_decode
  build_note="binaries built on the development machine (nvcc 13, sm_90), carried with FS_GPU_PREBUILT"
  libs="$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
else
  if [[ -n "${FS_GPU_DEPS:-}" ]]; then
    export PKG_CONFIG_SYSROOT_DIR=$FS_GPU_DEPS
    export PKG_CONFIG_PATH="$FS_GPU_DEPS/usr/lib/x86_64-linux-gnu/pkgconfig"
    export CMAKE_PREFIX_PATH="$FS_GPU_DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  fi
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFLASHSTREAM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DFLASHSTREAM_BENCH=ON -DFLASHSTREAM_TESTS=ON >"$out/build.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target flashstream_cli cuda_tests bench_cuda_matmul bench_cuda_decode \
      >>"$out/build.log" 2>&1 ||
    { echo "build failed; see $out/build.log"; tail -30 "$out/build.log"; exit 1; }
  cli=build-gpu/flashstream
  tests=build-gpu/tests/cuda_tests
  bench=build-gpu/bench/bench_cuda_matmul
  decode=build-gpu/bench/bench_cuda_decode
  build_note="built here with CMake (sm_90)"
  libs=${LD_LIBRARY_PATH:-}
fi
# Our binaries see the carried libraries; PyTorch below keeps its own.
run() { LD_LIBRARY_PATH=$libs "$@"; }

device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
echo "device: $device"
printf '%s\n%s\n' "$device" "$build_note" >"$out/device.txt"

FS_REQUIRE_CUDA=1 run "$tests" --gtest_filter="${FS_GPU_TESTS:-*}" --gtest_output="xml:$out/cuda_tests.xml" \
  >"$out/cuda_tests.log" 2>&1 || status=1
grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran" "$out/cuda_tests.log"

if [[ "${FS_GPU_SKIP_BENCH:-0}" != 1 ]]; then
  run "$bench" >"$out/bench_cuda_matmul.json" 2>"$out/bench_cuda_matmul.err" || { status=1; cat "$out/bench_cuda_matmul.err"; }
  python3 - >"$out/torch_bf16.json" 2>/dev/null <<'PY' || echo '{}' >"$out/torch_bf16.json"
import json, torch
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(3): a @ b
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(10):
    s.record(); a @ b; e.record(); torch.cuda.synchronize(); times.append(s.elapsed_time(e))
times.sort()
print(json.dumps({"torch": torch.__version__, "n": n, "median_ms": times[5], "tflops": 2 * n**3 / (times[5] * 1e9)}))
PY
  vocab=${FS_GPU_VOCAB:-$HOME/.cache/flashstream/vocab/llama2-spm-vocab-only.gguf}
  models=${FS_GPU_MODELS:-/tmp/fs_gpu_models}
  mkdir -p "$models"
  for dtype in ${FS_GPU_DTYPES:-f16 bf16 q8_0 q4_0}; do
    m=$models/llama-7b-$dtype.gguf
    if [[ ! -s $m ]]; then
      run "$cli" synth --arch llama --shape 7b --dtype "$dtype" --vocab "$vocab" -o "$m" >"$out/synth_$dtype.log" 2>&1 ||
        { status=1; tail -3 "$out/synth_$dtype.log"; continue; }
    fi
    run "$decode" "$m" --prefill 2048 --decode 64 --bf16-act 1 >"$out/decode_$dtype.json" 2>"$out/decode_$dtype.err" ||
      { status=1; tail -3 "$out/decode_$dtype.err"; }
    if [[ $dtype == f16 ]]; then
      run "$decode" "$m" --prefill 0 --decode 64 --graphs 0 >"$out/decode_f16_nographs.json" \
        2>"$out/decode_f16_nographs.err" || { status=1; tail -3 "$out/decode_f16_nographs.err"; }
    fi
    if [[ $dtype == bf16 ]]; then
      run "$decode" "$m" --prefill 0 --decode 16 --vram 4 >"$out/stream_bf16_vram4.json" 2>"$out/stream_bf16_vram4.err" ||
        { status=1; tail -3 "$out/stream_bf16_vram4.err"; }
    fi
    if [[ $dtype == q4_0 ]]; then
      run "$decode" "$m" --prefill 2048 --decode 2 >"$out/prefill_f32_q4_0.json" 2>"$out/prefill_f32_q4_0.err" ||
        { status=1; tail -3 "$out/prefill_f32_q4_0.err"; }
    fi
  done
fi

python3 "$here/gpu_report.py" "$out" "$status" >"$out/gpu_report.md" || status=1
cat "$out/gpu_report.md"
exit $status
