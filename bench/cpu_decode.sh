#!/usr/bin/env bash
# CPU decode benchmark: `dsserve generate` tokens/s for a real-size model with dummy weights,
# against the memory-bandwidth limit (weight bytes read per token / measured read bandwidth).
# usage: bench/cpu_decode.sh [MODEL_ID] [TOKENS]   (writes bench/results/cpu_decode_<model>.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B}
tokens=${2:-32}
build=${BUILD_DIR:-$root/build}
ninja -C "$build" dsserve bench_membw >/dev/null
bw=$("$build/bench/bench_membw" 2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["read_GBps"])')
log=$(mktemp)
"$build/dsserve" generate --model "$model" --load-format dummy --dtype bfloat16 --prompt-ids 1,2,3,4,5,6,7,8 \
  --max-tokens "$tokens" --temperature 0 --ignore-eos --json 2>"$log" >/dev/null
python3 - "$model" "$bw" "$log" "$tokens" "$root/bench/results" <<'PY'
import json, os, re, sys, platform, datetime
model, bw, log, tokens, outdir = sys.argv[1], float(sys.argv[2]), open(sys.argv[3]).read(), int(sys.argv[4]), sys.argv[5]
m = re.search(r"generated (\d+) tokens in ([\d.]+) s \(([\d.]+) tok/s\)", log)
tok_s = float(m.group(3))
# bf16 weight bytes read per decode step: every matrix once (embedding: one row only).
sizes = {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": (1536, 28, 12, 2, 128, 8960, 151936)}
h, L, nh, nkv, hd, i, v = sizes[model]
layer = h * nh * hd + 2 * h * nkv * hd + nh * hd * h + 3 * h * i
weight_bytes = 2 * (L * layer + v * h)
limit = bw * 1e9 / weight_bytes
res = {"model": model, "dtype": "bfloat16", "decode_tokens": tokens, "decode_tok_s": tok_s,
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
