#!/usr/bin/env bash
# The KV cache tiers on the GPU (docs/KV_CACHE.md, "On the GPU"): the KV and SmolLM2 CUDA tests,
# `flashstream passkey --device cuda` for --kv-quant 0, 8 and 4 (the three settings run side by
# side on the one GPU) at each context, and bench_kv --device cuda (whole-model decode at 512,
# 4k and 8k context, KV bytes and the ratios to FP16 of the same run).
# Usage: FS_GPU_PREBUILT=BIN scripts/gpu_kv.sh MODEL.gguf OUT_DIR [CONTEXTS] [NAME]
#   CONTEXTS: passkey contexts (default "1024 2048 4096 8192"); NAME: the files' model prefix
#   (default smollm2). FS_KV_SKIP_TESTS=1 / FS_KV_SKIP_BENCH=1 leave those parts out.
set -uo pipefail
model=${1:?usage: scripts/gpu_kv.sh MODEL.gguf OUT_DIR [CONTEXTS] [NAME]}
out=${2:?usage: scripts/gpu_kv.sh MODEL.gguf OUT_DIR [CONTEXTS] [NAME]}
contexts=${3:-1024 2048 4096 8192}
name=${4:-smollm2}
bin=${FS_GPU_PREBUILT:?set FS_GPU_PREBUILT to the folder of flashstream, cuda_tests and bench_kv}
mkdir -p "$out"
libs="$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
run() { LD_LIBRARY_PATH=$libs "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/device.txt"
status=0
if [[ "${FS_KV_SKIP_TESTS:-0}" != 1 ]]; then
  FS_MODEL_SMOLLM2=$model FS_REQUIRE_CUDA=1 run "$bin/cuda_tests" --gtest_filter='*Kv*:*SmolLm2Greedy*' \
    >"$out/cuda_kv_tests.log" 2>&1 || status=1
  grep -E "^\[  (PASSED|FAILED) |max \|cuda|CUDA == CPU" "$out/cuda_kv_tests.log"
fi
for ctx in $contexts; do
  pids=()
  for q in 0 8 4; do
    run "$bin/flashstream" passkey -m "$model" --device cuda --ctx "$ctx" --depths 0,25,50,75,100 --keys 10 \
      --kv-quant "$q" >"$out/${name}_passkey_${ctx}_q${q}_cuda.txt" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  for q in 0 8 4; do echo "$ctx q$q: $(tail -1 "$out/${name}_passkey_${ctx}_q${q}_cuda.txt")"; done
done
if [[ "${FS_KV_SKIP_BENCH:-0}" != 1 ]]; then
  run "$bin/bench_kv" "$model" --device cuda --contexts 512,4096,8192 --decode 64 \
    >"$out/kv_${name}_cuda.json" 2>"$out/kv_${name}_cuda.err" || status=1
  grep -E "ratio|memory_vs|decode_vs" -A0 "$out/kv_${name}_cuda.json" | head -20
fi
exit $status
