#!/usr/bin/env bash
# CPU decode benchmark: decode step time (`dsserve bench latency`, batch 1) for a real-size model with
# dummy bf16 weights, against the memory-bandwidth limit (weight bytes read per step / measured read
# bandwidth, both measured in this run).
# usage: bench/cpu_decode.sh [MODEL_ID] [TOKENS]   (writes bench/results/cpu_decode_<model>.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}
tokens=${2:-32}
build=${BUILD_DIR:-$root/build}
ninja -C "$build" dsserve bench_membw >/dev/null
bw=$("$build/bench/bench_membw" 2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_GBps"])')
log=$(mktemp)
"$build/dsserve" bench latency --model "$model" --load-format dummy --dtype bfloat16 --batch-size 1 \
  --input-len 8 --output-len "$tokens" --num-iters-warmup 1 --num-iters 2 --kv-cache-memory 1 >"$log" 2>&1
python3 - "$model" "$bw" "$log" "$tokens" "$root/bench/results" <<'PY'
import json, os, re, sys, platform, datetime
model, bw, log, tokens, outdir = sys.argv[1], float(sys.argv[2]), open(sys.argv[3]).read(), int(sys.argv[4]), sys.argv[5]
m = re.search(r"Decode step: mean ([\d.]+) ms", log)
step_ms = float(m.group(1))
tok_s = 1000.0 / step_ms
# bf16 weight bytes read per decode step: every matrix once (embedding: one row only).
sizes = {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": (1536, 28, 12, 2, 128, 8960, 151936)}
h, L, nh, nkv, hd, i, v = sizes[model]
layer = h * nh * hd + 2 * h * nkv * hd + nh * hd * h + 3 * h * i
weight_bytes = 2 * (L * layer + v * h)
limit = bw * 1e9 / weight_bytes
res = {"model": model, "dtype": "bfloat16", "decode_tokens": tokens, "decode_step_ms": step_ms,
       "decode_tok_s": round(tok_s, 3),
       "read_bandwidth_GBps": bw, "weight_bytes_per_token": weight_bytes,
       "limit_tok_s": round(limit, 2), "ratio_to_limit": round(tok_s / limit, 3),
       "machine": f"{platform.machine()}, {os.cpu_count()} cores (this project's 2-core CPU machine)",
       "date": datetime.date.today().isoformat(),
       "command": f"bench/cpu_decode.sh {model} {tokens}"}
os.makedirs(outdir, exist_ok=True)
name = model.split("/")[-1]
json.dump(res, open(os.path.join(outdir, f"cpu_decode_{name}.json"), "w"), indent=1)
print(json.dumps(res, indent=1))
PY
