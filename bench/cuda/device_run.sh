#!/usr/bin/env bash
# One GPU-machine run of issue #5's checks and benchmarks, from binaries built on the dev machine
# and packed by bench/cuda/pack_for_device.sh (run(command="bash bench/cuda/device_run.sh",
# carry=["carry/pack"])). Every step has its own timeout, so a slow one does not hide the others;
# logs and JSON go to $OUT (or ./out). In order:
#   1. the card; test_gpu_ops (every CUDA op vs the CPU reference, graphs, device sampling);
#      test_gpu_engine (the engine's batch-invariance test on CUDA, --batch-invariant);
#      tests/gpu/test_gpu_e2e.py (stories260k golden, HF numerics goldens within 0.05)
#   2. bench_cuda_decode 7B and 1.5B: single stream 128/512 (DECODE_LENS) eager and graphs (ratio to the copy
#      bandwidth measured there), start to ready, memory within 0.9, prefill of 2,048 tokens vs the
#      matmul rate measured there
#   3. offline throughput, 7B, 1,000 prompts of 512/256 (dsserve bench throughput)
#   4. Hugging Face transformers generate on the same card: batch 1 and 128 (the floor)
#   5. 100 concurrent streams 512/256 against dsserve serve, 7B (STREAM_PROMPTS, default 500)
#   6. the deployment guide's form of the 100-stream test: 100 Locust-style users ramped up at 10/s,
#      closed loop without think time, 512/256, for USERS_DURATION (default 180s) (dsserve bench users)
#   7. ncu profile of eager decode steps, 1.5B and 7B (kernel time, DRAM and SM % of peak), with a
#      64-block KV cache: with the default (90% of the card) ncu's kernel replay timed out on an H200
#      (session 3); NCU_PREFILL=1 adds a 7B 2,048-token prefill forward; NCU_DETAIL=REGEX the
#      detailed sections of the matching kernels (1.5B) and their SASS; NCU_SOURCE=REGEX one matching
#      launch's stall samples per SASS instruction. NCU_SIZES: a subset.
#   8. bench_cuda_ops (every op's time against the copy bandwidth / matmul rate measured there)
#   9. bench_gemm_sustained: cuBLASLt's candidate algorithms at the offline run's GEMM shapes, cold (as
#      the tuner times them) and sustained at the power limit; copy bandwidth idle and hot (GEMM_ARGS:
#      seconds per algorithm, candidates); the card sampled every 200 ms (smi_gemm.csv)
# THROUGHPUT_ARGS adds flags to step 3 (default none: the offline defaults, as vLLM's LLM class);
# ';' separates flag sets, each run in turn (e.g. "--max-num-seqs 256;--max-num-batched-tokens 32768")
# TEST_AB / OPS_AB: ';'-separated environments under which step 1 reruns the GPU tests and step 8
# reruns bench_cuda_ops (A/B of experiments behind an environment variable, as DECODE_AB in step 2)
# SMI=1: step 3 samples the card every 200 ms during each run (SM clock, power, temperature) into
# smi_<n>.csv and prints their means (is a compute-bound run held back by the power limit?)
# USERS_ARGS: flags of step 6's load generator; USERS_AB: ';'-separated environments under which
# step 6 reruns with a fresh server (A/B of the server's environment variables)
# OPS_ARGS: arguments of bench_cuda_ops in step 8 ("attention": the attention and sampling rows only)
# STEPS="1 2 3 4 5" picks steps (the default); each step prints its start time.
set -uo pipefail
# Logs and JSON are written to a scratch folder and packed into one archive at the end,
# ${OUT:-out}/device_run.tar.gz (the run tool brings back only a few files).
FINAL=${OUT:-out}
mkdir -p "$FINAL"
O=$(mktemp -d)
trap 'tar -czf "$FINAL/device_run.tar.gz" -C "$O" .' EXIT
D=$(mktemp -d)
python3 -c "import tarfile,sys; tarfile.open('carry/pack/bundle.tar.xz').extractall(sys.argv[1])" "$D" || exit 1
B=$D/gpu/bin
export LD_LIBRARY_PATH=$D/gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
steps=" ${STEPS:-1 2 3 4 5} "
t0=$(date +%s)
at() { echo "[+$(($(date +%s) - t0)) s] $*"; }
M7=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$O/card.txt"

# dsserve serve of the 7B (dummy weights) on port $1, log $O/$2, in the background (pid in sp), with
# the environment words in $3 (VAR=VALUE ...); returns once /health answers.
serve_7b() {
  # shellcheck disable=SC2086  # an environment: VAR=VALUE words
  env ${3:-} "$B/dsserve" serve $M7 --load-format dummy --device cuda --port "$1" --tokenizer "$D/gpu/tok" --max-num-seqs 256 \
    --no-enable-prefix-caching --log-interval 0 >"$O/$2" 2>&1 &
  sp=$!
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$1/health" && break; sleep 0.2; done
}

if [[ $steps == *" 1 "* ]]; then
  at "step 1"
  python3 tests/data/numerics/make_models.py "$D/tm" >/dev/null 2>&1
  export DS_STORIES260K=$D/gpu/stories260k DS_TEST_MODELS=$D/tm DS_TEST_MODELS_DIR=$D/tm DS_SOURCE_DIR=$PWD
  timeout 200 "$B/test_gpu_ops" >"$O/test_gpu_ops.log" 2>&1; echo "test_gpu_ops rc=$?"; grep -E "^\[  FAILED|PASSED" "$O/test_gpu_ops.log"
  timeout 150 "$B/test_gpu_engine" >"$O/test_gpu_engine.log" 2>&1; echo "test_gpu_engine rc=$?"; grep -E "^\[  FAILED|PASSED" "$O/test_gpu_engine.log"
  timeout 120 python3 tests/gpu/test_gpu_e2e.py "$B/dsserve" "$D/gpu/stories260k" "$D/tm" >"$O/gpu_e2e.log" 2>&1; echo "gpu_e2e rc=$?"; tail -1 "$O/gpu_e2e.log"
  # TEST_AB="VAR=VALUE[;...]": the matmul and norm tests again under each environment (an A/B
  # variant must pass them too), test_gpu_ops_ab<n>.log
  IFS=';' read -ra tabs <<<"${TEST_AB:-}"
  for ((a = 0; a < ${#tabs[@]}; a++)); do
    n=$((a + 1))
    # shellcheck disable=SC2086  # an environment: VAR=VALUE words
    env ${tabs[a]} timeout 100 "$B/test_gpu_ops" --gtest_filter='GpuOps.*:DecodeGraphs*:GpuAttention.*' >"$O/test_gpu_ops_ab$n.log" 2>&1
    echo "test_gpu_ops [${tabs[a]}] rc=$?"; grep -E "^\[  FAILED|PASSED" "$O/test_gpu_ops_ab$n.log"
    # shellcheck disable=SC2086
    env ${tabs[a]} timeout 150 "$B/test_gpu_engine" >"$O/test_gpu_engine_ab$n.log" 2>&1
    echo "test_gpu_engine [${tabs[a]}] rc=$?"; grep -E "^\[  FAILED|PASSED" "$O/test_gpu_engine_ab$n.log"
    # shellcheck disable=SC2086
    env ${tabs[a]} timeout 120 python3 tests/gpu/test_gpu_e2e.py "$B/dsserve" "$D/gpu/stories260k" "$D/tm" >"$O/gpu_e2e_ab$n.log" 2>&1
    echo "gpu_e2e [${tabs[a]}] rc=$?"; tail -1 "$O/gpu_e2e_ab$n.log"
  done
fi
if [[ $steps == *" 2 "* ]]; then
  at "step 2"
  # DECODE_AB="VAR=VALUE[ VAR=VALUE][;...]": each size also with each environment (variables of one
  # environment separated by spaces) (e.g. DS_NO_PDL=1, DS_ATTN_DROP=2), same run, as
  # decode_<size>_ab<n>.json. (Session 3's runs 3 and 6 had matmul variants since removed.)
  IFS=';' read -ra abs <<<"${DECODE_AB:-}"
  for size in ${DECODE_SIZES:-7B 1.5B}; do  # DECODE_SIZES: a subset ("1.5B")
    for ((a = 0; a <= ${#abs[@]}; a++)); do
      if ((a == 0)); then v=""; ab=(); else v="_ab$a"; read -ra ab <<<"${abs[a - 1]}"; fi
      bin=$B/bench_cuda_decode  # BIN=gpu/bin/NAME in an environment: another build (pack_for_device.sh's OLD_DECODE)
      for w in "${ab[@]}"; do [[ $w == BIN=* ]] && bin=$D/${w#BIN=}; done
      # shellcheck disable=SC2086  # DECODE_LENS: "PROMPT OUTPUT" (default 128 512; e.g. 3584 512: long-context decode, at most 4,096 in all)
      env "${ab[@]}" timeout 120 "$bin" "deepseek-ai/DeepSeek-R1-Distill-Qwen-$size" ${DECODE_LENS:-128 512} \
        >"$O/decode_$size$v.json" 2>"$O/decode_$size$v.err"
      echo "bench_cuda_decode $size$v rc=$?"
      python3 -c "import json,sys; j=json.load(open(sys.argv[1])); g=j['graphs']; print('  graphs: %.3f ms/token = %.1f%% of the limit (forward %.1f%%); prefill 2048: %.1f ms = %.1f%% of %.0f TFLOP/s' % (g['decode_ms_per_token'], 100*g['ratio_to_bandwidth_limit'], 100*g['forward_only_ratio_to_limit'], j['prefill']['ms'], 100*j['prefill']['ratio_to_matmul_rate'], j['prefill']['matmul_rate_tflops']))" "$O/decode_$size$v.json"
    done
  done
fi
if [[ $steps == *" 3 "* ]]; then
  at "step 3"
  # THROUGHPUT_ARGS: ';'-separated flag sets, one run each (throughput_7B_<n>.json/.log); a set may
  # start with VAR=VALUE words, its environment (e.g. "DS_OP_PROFILE=1 --enforce-eager": the op table),
  # or BIN=path: another dsserve of the bundle (e.g. BIN=gpu/bin/dsserve_old, an A/B against older code)
  IFS=';' read -ra variants <<<"${THROUGHPUT_ARGS:-}"
  ((${#variants[@]})) || variants=("")  # the offline defaults (1,024 sequences, 16,384 tokens per step on an H200)
  n=0
  for args in "${variants[@]}"; do
    n=$((n + 1))
    read -ra words <<<"$args"
    envs=() flags=() bin=$B/dsserve
    for w in "${words[@]}"; do
      if ((${#flags[@]} == 0)) && [[ $w == BIN=* ]]; then bin=$D/${w#BIN=}
      elif ((${#flags[@]} == 0)) && [[ $w == [A-Z]*=* ]]; then envs+=("$w")
      else flags+=("$w"); fi
    done
    if [[ -n ${SMI:-} ]]; then
      nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu,utilization.gpu \
        --format=csv -lms 200 >"$O/smi_$n.csv" 2>&1 &
      smi=$!
    fi
    env "${envs[@]}" timeout 200 "$bin" bench throughput --model $M7 --load-format dummy --device cuda --input-len 512 \
      --output-len 256 --num-prompts 1000 "${flags[@]}" --output-json "$O/throughput_7B_$n.json" >"$O/throughput_7B_$n.log" 2>&1
    echo "throughput [$args] rc=$?"; grep -E "Throughput|Engine steps|op profile" "$O/throughput_7B_$n.log"
    if [[ -n ${SMI:-} ]]; then
      kill $smi; wait $smi 2>/dev/null
      # Means over the samples with the GPU busy (utilization >= 90%): SM clock, power, temperature.
      python3 - "$O/smi_$n.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head = [h.strip() for h in rows[0]]
def col(sub):  # the first column whose header contains sub (nvidia-smi's headers differ from the query names)
    return next((i for i, h in enumerate(head) if sub in h), None)
def num(r, i):
    try: return float(r[i].split()[0])
    except (ValueError, IndexError): return None
u = col("utilization.gpu")
busy = [r for r in rows[1:] if len(r) == len(head) and (num(r, u) or 0) >= 90]
def mean(sub):
    i = col(sub)
    v = [x for x in (num(r, i) for r in busy) if x is not None] if i is not None else []
    return sum(v) / len(v) if v else float("nan")
out = ["busy samples %d" % len(busy), "sm clock %.0f MHz" % mean(".sm"), "power %.0f W" % mean("power.draw"),
       "limit %.0f W" % mean("power.limit"), "temp %.0f C" % mean("temperature.gpu")]
print("  smi: " + ", ".join(out))
PY
    fi
  done
fi
if [[ $steps == *" 4 "* ]]; then
  at "step 4"
  timeout 150 python3 bench/hf/hf_generate_floor.py 7B 1:128:128 128:512:256 >"$O/hf_floor_7B.jsonl" 2>"$O/hf_floor.err"
  echo "hf floor rc=$?"; cat "$O/hf_floor_7B.jsonl"
fi
if [[ $steps == *" 5 "* ]]; then
  at "step 5"
  serve_7b 8123 serve.log
  timeout 580 "$B/dsserve" bench serve --base-url http://127.0.0.1:8123 --model $M7 --tokenizer "$D/gpu/tok" \
    --dataset-name random --random-input-len 512 --random-output-len 256 --ignore-eos --num-prompts "${STREAM_PROMPTS:-500}" \
    --max-concurrency 100 --warmup 4 --metric-percentiles 50,90,99 --save-result --result-dir "$O" \
    --result-filename conc100.json >"$O/conc100.txt" 2>&1
  echo "bench serve rc=$?"; grep -E "Successful|Failed|Output token|TTFT|TPOT" "$O/conc100.txt"
  kill $sp; wait $sp 2>/dev/null
fi
if [[ $steps == *" 6 "* ]]; then
  at "step 6"
  IFS=';' read -ra uabs <<<"${USERS_AB:-}"
  for a in -1 "${!uabs[@]}"; do  # -1: the server's own environment; then each USERS_AB environment
    env_words=""; sfx=""
    if ((a >= 0)); then env_words=${uabs[a]}; sfx=_ab$((a + 1)); fi
    serve_7b 8124 "serve_users$sfx.log" "$env_words"
    # shellcheck disable=SC2086  # USERS_ARGS: flags (e.g. "--temperature 0.6 --top-p 0.95", R1's recommended sampling)
    timeout 580 "$B/dsserve" bench users --base-url http://127.0.0.1:8124 --endpoint /v1/completions --model $M7 \
      --tokenizer "$D/gpu/tok" --dataset-name random --random-input-len 512 --random-output-len 256 --num-prompts 1000 \
      --ignore-eos --users 100 --spawn-rate 10 --think-time 0 --duration "${USERS_DURATION:-180s}" ${USERS_ARGS:-} \
      --result-file "$O/users100$sfx.json" >"$O/users100$sfx.txt" 2>&1
    echo "bench users [$env_words] rc=$?"; grep -E "Users|Successful|Failed|Output token|TTFT|TPOT" "$O/users100$sfx.txt"
    kill $sp; wait $sp 2>/dev/null
  done
fi
if [[ $steps == *" 7 "* ]]; then
  at "step 7"
  NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(128)))')
  for size in ${NCU_SIZES:-1.5B 7B}; do
    timeout ${NCU_TIMEOUT:-150} $NCU --clock-control none --launch-skip 1200 --launch-count ${NCU_COUNT:-300} --csv \
      --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed \
      "$B/dsserve" generate --device cuda --model deepseek-ai/DeepSeek-R1-Distill-Qwen-$size --load-format dummy \
      --prompt-ids "$ids" --max-tokens 16 --ignore-eos --temperature 0 --enforce-eager --max-num-seqs 1 --num-kv-blocks 64 \
      >"$O/ncu_decode_$size.csv" 2>"$O/ncu_$size.err"
    echo "ncu $size rc=$?"
  done
  # NCU_DETAIL=REGEX: the kernels whose names match REGEX (e.g. skinny_matmul), 1.5B eager decode, with
  # ncu's speed-of-light, memory, occupancy, warp-state and source-counter (stall sampling over the
  # SASS) sections, as text (ncu_detail_1.5B.txt); NCU_DETAIL_ENV: an environment for that run;
  # and the matching kernels' SASS (cuobjdump, where the image has it) in sass.txt
  if [[ -n ${NCU_DETAIL:-} ]]; then
    ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(128)))')
    # shellcheck disable=SC2086  # an environment: VAR=VALUE words
    env ${NCU_DETAIL_ENV:-} timeout ${NCU_TIMEOUT:-150} $NCU --clock-control none -k "regex:$NCU_DETAIL" --launch-skip 200 \
      --launch-count ${NCU_COUNT:-12} --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
      --section LaunchStats --section WarpStateStats --section SourceCounters \
      "$B/dsserve" generate --device cuda --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --load-format dummy \
      --prompt-ids "$ids" --max-tokens 16 --ignore-eos --temperature 0 --enforce-eager --max-num-seqs 1 --num-kv-blocks 64 \
      >"$O/ncu_detail_1.5B.txt" 2>"$O/ncu_detail.err"
    echo "ncu detail rc=$?"
    CUOBJDUMP=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
    [[ -x $CUOBJDUMP ]] && "$CUOBJDUMP" -sass "$B/dsserve" >"$O/sass_all.txt" 2>&1
    [[ -s $O/sass_all.txt ]] && python3 - "$O/sass_all.txt" "$NCU_DETAIL" >"$O/sass.txt" <<'PY'
import re, sys
text, pat = open(sys.argv[1]).read(), re.compile(sys.argv[2])
for block in re.split(r"(?=\n\s+Function : )", text):  # one function per block
    m = re.search(r"Function : (\S+)", block)
    if m and pat.search(m.group(1)): print(block)
PY
    rm -f "$O/sass_all.txt"
    echo "sass: $(grep -c 'Function :' "$O/sass.txt" 2>/dev/null) functions"
  fi
  # NCU_SOURCE=REGEX: one launch of the matching kernel (1.5B eager decode, NCU_DETAIL_ENV applies)
  # with ncu's stall sampling per SASS instruction (the source page, as CSV: ncu_source_sass.csv);
  # NCU_CACHE=none keeps the caches warm between kernels (ncu's default flushes them)
  if [[ -n ${NCU_SOURCE:-} ]]; then
    ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(128)))')
    # shellcheck disable=SC2086  # an environment: VAR=VALUE words
    env ${NCU_DETAIL_ENV:-} timeout ${NCU_TIMEOUT:-150} $NCU --clock-control none --cache-control ${NCU_CACHE:-all} \
      -k "regex:$NCU_SOURCE" --launch-skip ${NCU_SOURCE_SKIP:-200} --launch-count 1 --section WarpStateStats \
      --section SourceCounters -f -o "$O/ncu_source" \
      "$B/dsserve" generate --device cuda --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --load-format dummy \
      --prompt-ids "$ids" --max-tokens 16 --ignore-eos --temperature 0 --enforce-eager --max-num-seqs 1 --num-kv-blocks 64 \
      >"$O/ncu_source.log" 2>&1
    echo "ncu source rc=$?"
    $NCU --import "$O/ncu_source.ncu-rep" --page source --csv --print-source sass >"$O/ncu_source_sass.csv" 2>>"$O/ncu_source.log"
    echo "ncu source export rc=$? ($(wc -l <"$O/ncu_source_sass.csv") lines)"
    $NCU --import "$O/ncu_source.ncu-rep" --page details >"$O/ncu_source_details.txt" 2>>"$O/ncu_source.log"
    rm -f "$O/ncu_source.ncu-rep"
  fi
  # NCU_PREFILL=1: the 7B's first forwards from start (the memory-profiling forward at 2,048 tokens,
  # then a 2,048-token prompt's prefill), per-kernel times of a prefill step
  if [[ -n ${NCU_PREFILL:-} ]]; then
    ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(2048)))')
    timeout ${NCU_TIMEOUT:-150} $NCU --clock-control none --launch-count 320 --csv \
      --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed \
      "$B/dsserve" generate --device cuda --model $M7 --load-format dummy --prompt-ids "$ids" --max-tokens 1 \
      --ignore-eos --temperature 0 --enforce-eager --max-num-seqs 1 --max-num-batched-tokens 2048 --num-kv-blocks 256 \
      >"$O/ncu_prefill_7B.csv" 2>"$O/ncu_prefill.err"
    echo "ncu prefill rc=$?"
  fi
fi
if [[ $steps == *" 8 "* ]]; then
  at "step 8"
  if [[ ${OPS_BASE:-1} != 0 ]]; then  # OPS_BASE=0: only the OPS_AB runs
    # shellcheck disable=SC2086  # OPS_ARGS: words
    timeout 240 "$B/bench_cuda_ops" ${OPS_ARGS:-} >"$O/bench_cuda_ops.txt" 2>&1; echo "bench_cuda_ops rc=$?"
    grep -E "limits|T=1|add_rmsnorm|attn decode B=1 |attn decode B=1024 |sample T=0.8 rows=1024" "$O/bench_cuda_ops.txt"
  fi
  # OPS_AB="VAR=VALUE[;...]": again under each environment, bench_cuda_ops_ab<n>.txt (T=1 rows shown)
  IFS=';' read -ra oabs <<<"${OPS_AB:-}"
  for ((a = 0; a < ${#oabs[@]}; a++)); do
    # shellcheck disable=SC2086  # an environment: VAR=VALUE words
    env ${oabs[a]} timeout 240 "$B/bench_cuda_ops" ${OPS_ARGS:-} >"$O/bench_cuda_ops_ab$((a + 1)).txt" 2>&1
    echo "bench_cuda_ops [${oabs[a]}] rc=$?"; grep -E "T=1 |attn decode B=1 |attn decode B=1024 " "$O/bench_cuda_ops_ab$((a + 1)).txt"
  done
fi
if [[ $steps == *" 9 "* ]]; then
  at "step 9"
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu,utilization.gpu \
    --format=csv -lms 200 >"$O/smi_gemm.csv" 2>&1 &
  smi=$!
  # shellcheck disable=SC2086  # GEMM_ARGS: words
  timeout 300 "$B/bench_gemm_sustained" ${GEMM_ARGS:-} >"$O/gemm_sustained.txt" 2>&1; echo "bench_gemm_sustained rc=$?"
  kill $smi; wait $smi 2>/dev/null
  cat "$O/gemm_sustained.txt"
fi
at "done"
