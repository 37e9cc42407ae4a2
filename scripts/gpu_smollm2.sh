#!/usr/bin/env bash
# The real-model part of the GPU report: SmolLM2-135M-Instruct Q4_1 with --device cuda (its
# CUDA tests against transformers and the CPU, bench_cuda_decode, and `flashstream run` resident,
# through the ring, and through the ring fed from disk). For a second device call when the model
# does not travel with the first (scripts/gpu_report.py OUT1 STATUS OUT2 merges the two).
# Usage: FS_GPU_PREBUILT=BIN scripts/gpu_smollm2.sh MODEL.gguf OUT_DIR
set -uo pipefail
model=${1:?usage: scripts/gpu_smollm2.sh MODEL.gguf OUT_DIR}
out=${2:?usage: scripts/gpu_smollm2.sh MODEL.gguf OUT_DIR}
bin=${FS_GPU_PREBUILT:?set FS_GPU_PREBUILT to the folder of flashstream, cuda_tests and bench_cuda_decode}
mkdir -p "$out"
libs="$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
run() { LD_LIBRARY_PATH=$libs "$@"; }
sha256sum "$model" >"$out/smol.sha256"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/device.txt"
echo "binaries carried with FS_GPU_PREBUILT" >>"$out/device.txt"
status=0
FS_MODEL_SMOLLM2=$model FS_REQUIRE_CUDA=1 run "$bin/cuda_tests" --gtest_filter='*SmolLm2*' >"$out/cuda_tests.log" 2>&1 ||
  status=1
run "$bin/bench_cuda_decode" "$model" --prefill 512 --decode 128 >"$out/decode_smollm2.json" 2>"$out/decode_smollm2.err" ||
  status=1
prompt="What is the capital of France?"
run "$bin/flashstream" run -m "$model" --device cuda -p "$prompt" --temp 0 -n 32 -v >"$out/run_cuda.txt" 2>&1 || status=1
run "$bin/flashstream" run -m "$model" --device cuda --vram 0.05 -p "$prompt" --temp 0 -n 32 >"$out/run_cuda_vram.txt" 2>&1 ||
  status=1
run "$bin/flashstream" run -m "$model" --device cuda --vram 0.05 --ram 0.04 -p "$prompt" --temp 0 -n 32 \
  >"$out/run_cuda_vram_ram.txt" 2>&1 || status=1
grep -E "OK|FAILED|NMSE|greedy|agreement" "$out/cuda_tests.log"
exit $status
