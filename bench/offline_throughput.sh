#!/usr/bin/env bash
# Offline throughput of `dsserve generate --prompts-file` on the CPU: 64 prompts as one batch vs the
# same prompts one at a time (--max-num-seqs 1), same process settings.
# usage: bench/offline_throughput.sh MODEL_DIR_OR_ID [extra generate flags...]
# writes bench/results/offline_throughput_<name>.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
model=$1; shift
ninja -C "$build" dsserve >/dev/null
prompts=$(mktemp --suffix .jsonl)
python3 - "$prompts" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(64):
        n = 8 + (i * 37) % 120            # 8..127 prompt tokens
        ids = [(i * 7919 + j * 104729) % 500 + 3 for j in range(n)]
        f.write(json.dumps({"prompt_ids": ids, "max_tokens": 32, "ignore_eos": True, "temperature": 0}) + "\n")
PY
run() { "$build/dsserve" generate --model "$model" --prompts-file "$prompts" "$@" 2>&1 >/dev/null | tail -1; }
batched=$(run "$@")
single=$(run --max-num-seqs 1 "$@")
python3 - "$model" "$batched" "$single" "$root/bench/results" "$*" <<'PY'
import json, os, re, sys, datetime
model, batched, single, outdir, extra = sys.argv[1:6]
def tps(line):
    return float(re.search(r"([\d.]+) output tok/s", line).group(1))
res = {"model": model, "prompts": 64, "prompt_tokens": "8..127", "output_tokens_each": 32,
       "batched_output_tok_s": tps(batched), "one_at_a_time_output_tok_s": tps(single),
       "speedup": round(tps(batched) / tps(single), 2), "batched_log": batched, "one_at_a_time_log": single,
       "machine": f"{os.cpu_count()} cores (this project's CPU machine)", "date": datetime.date.today().isoformat(),
       "command": f"bench/offline_throughput.sh {model} {extra}".strip()}
name = os.path.basename(model.rstrip("/")) or model.replace("/", "_")
os.makedirs(outdir, exist_ok=True)
json.dump(res, open(os.path.join(outdir, f"offline_throughput_{name}.json"), "w"), indent=1)
print(json.dumps(res, indent=1))
PY
rm -f "$prompts"
