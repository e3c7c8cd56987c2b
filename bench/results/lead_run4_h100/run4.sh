#!/usr/bin/env bash
# Lead run 4: 100 concurrent streams against serve (7B dummy), then an ncu profile of one eager decode step.
export LD_LIBRARY_PATH=$PWD/carry/gpu/lib
L=carry/lead M=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B
nvidia-smi --query-gpu=name --format=csv,noheader
$L/dsserve serve $M --load-format dummy --device cuda --port 8123 --tokenizer $L/tok --max-num-seqs 256 --no-enable-prefix-caching --log-interval 0 > $OUT/serve.log 2>&1 &
sp=$!
for i in $(seq 300); do curl -sf -o /dev/null http://127.0.0.1:8123/health && break; sleep 0.2; done
timeout 120 $L/dsserve bench serve --base-url http://127.0.0.1:8123 --model $M --tokenizer $L/tok --dataset-name random --random-input-len 512 --random-output-len 256 --ignore-eos --num-prompts 500 --max-concurrency 100 --warmup 4 --metric-percentiles 50,90,99 --save-result --result-dir $OUT --result-filename conc100.json > $OUT/conc100.txt 2>&1; echo "bench rc=$?"
grep -E "Successful|Failed|throughput|TTFT|TPOT|ITL|concurrency" $OUT/conc100.txt
kill $sp; wait $sp 2>/dev/null
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(128)))')
timeout 150 $NCU --launch-skip 1200 --launch-count 300 --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed --csv \
  $L/dsserve generate --device cuda --model $M --load-format dummy --prompt-ids "$ids" --max-tokens 16 --ignore-eos --temperature 0 --enforce-eager --max-num-seqs 1 > $OUT/ncu_decode_7B.csv 2> $OUT/ncu.err; echo "ncu rc=$?"; tail -2 $OUT/ncu.err; wc -l $OUT/ncu_decode_7B.csv
