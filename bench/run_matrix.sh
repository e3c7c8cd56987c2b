#!/usr/bin/env bash
# The serving benchmark matrix of ../shared/docs/performance.md in one call, for the GPU machine:
# builds dsserve, starts `dsserve serve` with dummy (random) weights of a real-size model, and runs
#   1. single stream: 1024 in / 128 out and 128 in / 1024 out (max concurrency 1)
#   2. concurrency sweep 1,4,16,64,256 at 512/256 and at 1024/128
#   3. the deployment guide's scenario: 100 users, spawn rate 10, think 0.5-2 s, for $USERS_DURATION
# with random prompts, fixed lengths and ignore_eos, prefix caching off (repeated runs reuse prompts).
# Results (vLLM-format JSON, terminal tables, SVG charts) go to $OUT_DIR (default bench/results/matrix_<model>_<date>).
# usage: bench/run_matrix.sh [MODEL_ID] (default deepseek-ai/DeepSeek-R1-Distill-Qwen-7B)
# env: BUILD_DIR, DSSERVE_BIN (a prebuilt binary: skips the build, e.g. on a GPU machine without the
#      build dependencies), OUT_DIR, PORT, NUM_PROMPTS (per sweep point, default 200), USERS_DURATION (default 10m),
#      SERVE_FLAGS (extra flags for dsserve serve), TOKENIZER_DIR (default ../shared/tokenizers/deepseek-r1-distill-qwen), QUICK=1 (tiny smoke run: stories260k on the CPU).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
model=${1:-deepseek-ai/DeepSeek-R1-Distill-Qwen-7B}
port=${PORT:-8123}
n=${NUM_PROMPTS:-200}
users_duration=${USERS_DURATION:-10m}
name=$(basename "$model")
out=${OUT_DIR:-$root/bench/results/matrix_${name}_$(date +%Y%m%d-%H%M)}
mkdir -p "$out"

if [[ -n "${DSSERVE_BIN:-}" ]]; then
  bin=$DSSERVE_BIN
else
  cmake -S "$root" -B "$build" -G Ninja >/dev/null
  ninja -C "$build" dsserve >/dev/null
  bin=$build/dsserve
fi

serve_flags=(--port "$port" --served-model-name bench --no-enable-prefix-caching --log-interval 0)
tok_flags=()
if [[ "${QUICK:-0}" == 1 ]]; then
  model=$root/../shared/models/stories260k
  tmpl=$(mktemp --suffix .jinja)
  echo "{% for m in messages %}{{ m['content'] }}{% endfor %}" > "$tmpl"
  serve_flags+=("$model" --num-kv-blocks 4096 --chat-template "$tmpl")
  tok_flags=(--tokenizer "$model")
  n=${NUM_PROMPTS:-16}
  users_duration=${USERS_DURATION:-10s}
else
  serve_flags+=("$model" --load-format dummy)
  if "$bin" serve --help | grep -q -- '--device'; then serve_flags+=(--device "${DEVICE:-cuda}"); fi
  tokdir=${TOKENIZER_DIR:-$root/../shared/tokenizers/deepseek-r1-distill-qwen}
  [[ -d "$tokdir" && "$model" == *Qwen* ]] && tok_flags=(--tokenizer "$tokdir")
  # Dummy weights come without a tokenizer: the server needs one too, or it streams empty text.
  serve_flags+=("${tok_flags[@]}")
fi
# shellcheck disable=SC2206
serve_flags+=(${SERVE_FLAGS:-})

{
  echo "# dsserve bench matrix: $model"
  echo "date: $(date -Is)  host: $(hostname)  commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU (CPU run)"
  echo "serve: dsserve serve ${serve_flags[*]}"
} > "$out/README.txt"

"$bin" serve "${serve_flags[@]}" > "$out/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1200); do  # up to 10 minutes for a large model to load
  curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
  kill -0 $server_pid 2>/dev/null || { echo "server exited:"; tail -20 "$out/server.log"; exit 1; }
  sleep 0.5
done
url=http://127.0.0.1:$port
common=(--base-url "$url" --model bench --ignore-eos --dataset-name random "${tok_flags[@]}"
        --metric-percentiles 50,90,99 --save-result --result-dir "$out")

run() {  # run NAME IN OUT CONCURRENCY PROMPTS
  local tag=$1 in=$2 outlen=$3 conc=$4 np=$5
  if [[ "${QUICK:-0}" == 1 ]]; then in=$((in / 8)); outlen=$((outlen / 8)); fi  # stories260k: 512 context
  echo "== $tag: ${in} in / ${outlen} out, max concurrency $conc" | tee -a "$out/summary.txt"
  "$bin" bench serve "${common[@]}" --random-input-len "$in" --random-output-len "$outlen" --num-prompts "$np" \
    --max-concurrency "$conc" --warmup 2 --result-filename "$tag.json" --plot "$out/plots_$tag" | tee "$out/$tag.txt" |
    grep -E "throughput|Mean TTFT|Mean TPOT|concurrency  |^[0-9]+ " | tee -a "$out/summary.txt"
}
run single_1024_128 1024 128 1 $((n < 32 ? n : 32))
run single_128_1024 128 1024 1 $((n < 16 ? n : 16))
run sweep_512_256 512 256 1,4,16,64,256 "$n"
run sweep_1024_128 1024 128 1,4,16,64,256 "$n"

echo "== users: 100 users for $users_duration" | tee -a "$out/summary.txt"
"$bin" bench users --base-url "$url" --model bench --endpoint /v1/completions --ignore-eos "${tok_flags[@]}" \
  --users 100 --spawn-rate 10 --think-time 0.5-2s --duration "$users_duration" \
  --random-input-len 256 --random-output-len 256 --result-file "$out/users_100.json" --plot "$out/plots_users" \
  --progress-interval 30 | tee "$out/users_100.txt" | tee -a "$out/summary.txt"
echo "results in $out"
