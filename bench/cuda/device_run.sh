#!/usr/bin/env bash
# One GPU-machine run of everything CUDA end to end: the card, test_gpu_ops, the GPU end-to-end
# goldens (tests/gpu/test_gpu_e2e.py) and the single-stream decode benchmark of R1-Distill-Qwen-1.5B
# and -7B (dummy weights, 128-token prompt, 512 output tokens; again with DS_NO_FUSED_MATMUL=1 for a
# same-card before/after of the q/k/v + gate/up fusion), plus the same decode through
# `dsserve generate --device cuda` as a cross-check of the CLI path. Logs go to $OUT (or ./out).
# Binaries, their .so files and stories260k come from carry/gpu (built on the dev machine):
#   ninja -C build-cuda dsserve test_gpu_ops bench_cuda_decode
#   strip -o carry/gpu/NAME ... ; cp the non-system .so into carry/gpu/lib; cp stories260k to carry/gpu/
set -uo pipefail
G=${CARRY:-carry/gpu}
O=${OUT:-out}
mkdir -p "$O"
# The executables' RUNPATH finds carry/gpu/lib for their direct dependencies only; libicuuc's own
# libicudata needs the search path too.
export LD_LIBRARY_PATH="$(cd "$G" && pwd)/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$O/card.txt"
echo "== test_gpu_ops"
"$G/test_gpu_ops" >"$O/test_gpu_ops.log" 2>&1; echo "test_gpu_ops rc=$?"; tail -4 "$O/test_gpu_ops.log"
echo "== gpu e2e"
models=$(mktemp -d)
python3 tests/data/numerics/make_models.py "$models" --check tests/data/numerics/goldens.json
python3 tests/gpu/test_gpu_e2e.py "$G/dsserve" "$G/stories260k" "$models" >"$O/gpu_e2e.log" 2>&1; echo "gpu_e2e rc=$?"
grep -E "steps match|ok$|FAIL|Error|Ran|OK" "$O/gpu_e2e.log"
echo "== HF transformers bf16 vs the float32 goldens (the yardstick for the bf16 tolerance)"
python3 tests/gpu/hf_bf16_error.py "$models" 2>&1 | grep -E "HF bf16|Error"
for size in 1.5B 7B; do
  m=deepseek-ai/DeepSeek-R1-Distill-Qwen-$size
  echo "== bench_cuda_decode $m"
  "$G/bench_cuda_decode" "$m" 128 512 >"$O/decode_$size.json" 2>"$O/decode_$size.err"; echo "rc=$?"
  cat "$O/decode_$size.json"; tail -3 "$O/decode_$size.err"
  echo "== bench_cuda_decode $m, q/k/v and gate/up NOT fused (DS_NO_FUSED_MATMUL=1: same-card before/after)"
  DS_NO_FUSED_MATMUL=1 "$G/bench_cuda_decode" "$m" 128 512 2>/dev/null; echo "rc=$?"
  echo "== dsserve generate --device cuda $m"
  ids=$(python3 -c 'print(",".join(str(1000 + 7 * i) for i in range(128)))')
  "$G/dsserve" generate --device cuda --model "$m" --load-format dummy --prompt-ids "$ids" --max-tokens 512 \
    --ignore-eos --temperature 0 --json >/dev/null 2>"$O/generate_$size.err"; echo "rc=$?"; tail -2 "$O/generate_$size.err"
done
