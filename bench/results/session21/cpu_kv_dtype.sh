#!/usr/bin/env bash
# 1.5B decode on the CPU (dummy bf16 weights, 2 threads) with a float32 and a bfloat16 KV cache:
# short context (8-token prompt) and ~4,000 keys (LENS="8 4000", KVS="auto bfloat16 auto bfloat16").
# Each row also gives its ratio to the read-bandwidth limit: (bf16 weights + the K/V bytes of the
# mean decode context) per step / the read bandwidth bench_membw measures at the start of this run.
# Run from the repository root after building.
set -euo pipefail
bw=$(build/bench/bench_membw 2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_GBps"])')
echo "read bandwidth (bench_membw 2): $bw GB/s"
for len in ${LENS:-8 4000}; do
  for kv in ${KVS:-auto bfloat16 auto bfloat16}; do
    echo "== input-len $len --kv-cache-dtype $kv"
    out=$(build/dsserve bench latency --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --load-format dummy \
      --dtype bfloat16 --batch-size 1 --input-len "$len" --output-len 16 --num-iters-warmup 0 --num-iters 1 \
      --kv-cache-memory 1 --kv-cache-dtype "$kv" 2>&1 | grep -E "Decode step|Prefill|Avg latency")
    echo "$out"
    python3 - "$out" "$bw" "$len" "$kv" <<'PY'
import re, sys
out, bw, prompt, kv = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
step_ms = float(re.search(r"Decode step: mean ([\d.]+) ms", out).group(1))
weights = 3087138816                                  # bf16 weight bytes read per 1.5B decode step
kv_per_key = 28 * 2 * 2 * 128 * (2 if kv == "bfloat16" else 4)  # layers x K,V x KV heads x head_dim
keys = prompt + 8                                     # mean context over the 16 decode steps
limit_ms = (weights + kv_per_key * keys) / (bw * 1e9) * 1e3
print(f"limit {limit_ms:.1f} ms/step; ratio to the limit {limit_ms / step_ms:.3f}")
PY
  done
done
