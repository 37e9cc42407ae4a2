#!/usr/bin/env bash
# The README's first command: set up (apt packages, model download, build) and run the default
# model on one question, streaming: its weights (0.09 GiB) exceed the --ram budget, so the plan,
# the streaming pipeline and its summary show.
set -euo pipefail
cd "$(dirname "$0")/.."
model="$(scripts/setup.sh | tail -n 1)"
exec ./build/flashstream run -m "$model" -p "${1:-What is the capital of France?}" --temp 0 --ram 0.05
