#!/usr/bin/env bash
# Quality of the KV cache settings on a real text (docs/KV_CACHE.md): perplexity and mean KL
# divergence of the next-token distributions against an FP16 cache (and the FP16 cache against
# an f32 one, the noise floor), with `flashstream eval --kl`.
# Usage: scripts/kv_quality.sh MODEL [TOKENS] [TEXT]   (defaults: 4096 tokens of the GPL-3 text
# that Debian's base-files package installs in /usr/share/common-licenses)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/kv_quality.sh MODEL [TOKENS] [TEXT]}
tokens=${2:-4096}
text=${3:-/usr/share/common-licenses/GPL-3}
cli=${FLASHSTREAM:-build/flashstream}
threads=${THREADS:-2}
run() {  # label, then flags
  local label=$1; shift
  local out
  out=$("$cli" eval -m "$model" --file "$text" --tokens "$tokens" --ctx "$tokens" -t "$threads" --kl "$@" 2>/dev/null | tail -1)
  echo "| $label | \`$*\` | $out |"
}
echo "| cache | flags | result |"
echo "| --- | --- | --- |"
run "FP16 everywhere vs f32 (noise floor)" --kv-quant 0 --kl-ref f32
run "8-bit, 128 FP16 window (default)" --kv-quant 8
run "8-bit, keys per token, 128 window" --kv-quant 8 --kv-keys-per-token
run "plain 8-bit everywhere" --kv-quant 8 --kv-window 0 --kv-keys-per-token
run "8-bit, keys per channel, window 0" --kv-quant 8 --kv-window 0
run "4-bit, 128 FP16 window" --kv-quant 4
run "4-bit, keys per token, 128 window" --kv-quant 4 --kv-keys-per-token
run "plain 4-bit everywhere" --kv-quant 4 --kv-window 0 --kv-keys-per-token
run "4-bit, keys per channel, window 0" --kv-quant 4 --kv-window 0
