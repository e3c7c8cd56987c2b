#!/usr/bin/env bash
# 1.5B decode on the CPU (dummy bf16 weights, 2 threads) with a float32 and a bfloat16 KV cache:
# short context (8-token prompt) and ~4,000 keys (LENS="8 4000"). Run from the repository root after
# building.
set -euo pipefail
for len in ${LENS:-8 4000}; do
  for kv in ${KVS:-auto bfloat16 auto bfloat16}; do
    echo "== input-len $len --kv-cache-dtype $kv"
    build/dsserve bench latency --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --load-format dummy --dtype bfloat16 \
      --batch-size 1 --input-len "$len" --output-len 16 --num-iters-warmup 0 --num-iters 1 --kv-cache-memory 1 \
      --kv-cache-dtype "$kv" 2>&1 | grep -E "Decode step|Prefill|Avg latency"
  done
done
