#!/usr/bin/env bash
# Lead run 3 (main with graphs + attention + skinny matmul [+ GPU sampling]): GPU tests, then the
# #5 benchmarks in order of importance; each step has its own timeout so later ones still report.
export LD_LIBRARY_PATH=$PWD/carry/gpu/lib
L=carry/lead
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $OUT/card.txt
python3 tests/data/numerics/make_models.py /tmp/tm > /dev/null 2>&1
export DS_STORIES260K=$PWD/carry/gpu/stories260k DS_TEST_MODELS=/tmp/tm DS_TEST_MODELS_DIR=/tmp/tm DS_SOURCE_DIR=$PWD
timeout 150 $L/test_gpu_ops > $OUT/test_gpu_ops.log 2>&1; echo "test_gpu_ops rc=$?"; grep -E "^\[  FAILED|PASSED" $OUT/test_gpu_ops.log | head
timeout 120 $L/test_gpu_engine > $OUT/test_gpu_engine.log 2>&1; echo "test_gpu_engine rc=$?"; grep -E "^\[  FAILED|PASSED" $OUT/test_gpu_engine.log | head
timeout 90 python3 tests/gpu/test_gpu_e2e.py $L/dsserve carry/gpu/stories260k /tmp/tm > $OUT/e2e.log 2>&1; echo "e2e rc=$?"; tail -2 $OUT/e2e.log
for size in 7B; do
  timeout 100 $L/bench_cuda_decode deepseek-ai/DeepSeek-R1-Distill-Qwen-$size 128 512 > $OUT/decode_$size.json 2>/dev/null; echo "decode $size rc=$?"
  python3 -c "import json,sys;j=json.load(open('$OUT/decode_$size.json'));print('$size', {k:round(j['graphs'][k],4) for k in ('decode_ms_per_token','ratio_to_bandwidth_limit','forward_only_ms','forward_only_ratio_to_limit')}, j.get('prefill'))" 2>&1 | tail -1
done
M=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B
timeout 150 $L/dsserve bench throughput --model $M --load-format dummy --device cuda --input-len 512 --output-len 256 --num-prompts 1000 --max-num-seqs 256 --output-json $OUT/throughput_7B.json > $OUT/throughput_7B.log 2>&1; echo "throughput rc=$?"; grep -E "Throughput|Elapsed|memory|captured" $OUT/throughput_7B.log
timeout 100 python3 bench/hf/hf_generate_floor.py 7B 1:128:128 128:512:256 > $OUT/hf_floor_7B.jsonl 2> $OUT/hf_floor.err; echo "hf floor rc=$?"; cat $OUT/hf_floor_7B.jsonl
size=1.5B
timeout 60 $L/bench_cuda_decode deepseek-ai/DeepSeek-R1-Distill-Qwen-$size 128 512 > $OUT/decode_$size.json 2>/dev/null; echo "decode $size rc=$?"
python3 -c "import json,sys;j=json.load(open('$OUT/decode_$size.json'));print('$size', {k:round(j['graphs'][k],4) for k in ('decode_ms_per_token','ratio_to_bandwidth_limit','forward_only_ms','forward_only_ratio_to_limit')}, j.get('prefill'))" 2>&1 | tail -1
