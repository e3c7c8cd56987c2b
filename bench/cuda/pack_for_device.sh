#!/usr/bin/env bash
# Packs what one GPU-machine run needs into carry/pack/bundle.tar.xz (the run tool sends at most
# 64 MiB: the uncompressed binaries + ICU data alone are ~65 MiB, the archive ~15 MiB):
#   gpu/bin/   stripped dsserve, test_gpu_ops, test_gpu_engine, bench_cuda_decode, bench_cuda_ops,
#              bench_gemm_sustained
#   gpu/lib/   the shared libraries the GPU image lacks (ICU, PCRE2, cpp-httplib, OpenSSL, xxhash,
#              brotli, zlib, libgomp; glibc/libstdc++ are there, cuBLASLt at /usr/local/cuda)
#   gpu/stories260k/, gpu/tok/  the default model and the R1-Distill-Qwen tokenizer (../shared does not travel)
# usage: bench/cuda/pack_for_device.sh [BUILD_DIR]   (a CUDA build: cmake finds nvcc, -DCMAKE_BUILD_TYPE=Release)
# OLD_DSSERVE=path also packs that dsserve as gpu/bin/dsserve_old (an A/B against older code on the
# same machine: device_run.sh step 3's BIN=gpu/bin/dsserve_old); OLD_DECODE=path packs that
# bench_cuda_decode as gpu/bin/bench_cuda_decode_old (step 2: DECODE_AB="BIN=gpu/bin/bench_cuda_decode_old"),
# OLD_OPS=path that bench_cuda_ops as gpu/bin/bench_cuda_ops_old
# Then: run(command="bash bench/cuda/device_run.sh", carry=["carry/pack"]).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu/bin" "$stage/gpu/lib"
ninja -C "$build" dsserve test_gpu_ops test_gpu_engine bench_cuda_decode bench_cuda_ops bench_gemm_sustained >/dev/null
for b in dsserve tests/gpu/test_gpu_ops tests/gpu/test_gpu_engine bench/bench_cuda_decode bench/bench_cuda_ops \
         bench/bench_gemm_sustained; do
  strip -o "$stage/gpu/bin/$(basename "$b")" "$build/$b"
done
[[ -z ${OLD_DSSERVE:-} ]] || strip -o "$stage/gpu/bin/dsserve_old" "$OLD_DSSERVE"
[[ -z ${OLD_DECODE:-} ]] || strip -o "$stage/gpu/bin/bench_cuda_decode_old" "$OLD_DECODE"
[[ -z ${OLD_OPS:-} ]] || strip -o "$stage/gpu/bin/bench_cuda_ops_old" "$OLD_OPS"
libs="libgomp.so.1 libxxhash.so.0 libpcre2-8.so.0 libicuuc.so.72 libicudata.so.72 libcpp-httplib.so.0.11
      libcrypto.so.3 libssl.so.3 libz.so.1 libbrotlidec.so.1 libbrotlienc.so.1 libbrotlicommon.so.1"
ldconfig -p > "$stage/ldconfig.txt"  # read from a file: awk's early exit would SIGPIPE ldconfig (pipefail)
for l in $libs; do
  path=$(awk -v n="$l" '$1 == n && /x86-64/ {print $NF; exit}' "$stage/ldconfig.txt")
  [[ -n "$path" ]] || { echo "pack_for_device: $l not found (scripts/setup installs it)" >&2; exit 1; }
  cp -L "$path" "$stage/gpu/lib/$l"
done
cp -r "$root/../shared/models/stories260k" "$stage/gpu/stories260k"
cp -r "$root/../shared/tokenizers/deepseek-r1-distill-qwen" "$stage/gpu/tok"
mkdir -p "$root/carry/pack"
tar -C "$stage" -cf - gpu | xz -6 -T2 > "$root/carry/pack/bundle.tar.xz"
echo "carry/pack/bundle.tar.xz: $(du -h "$root/carry/pack/bundle.tar.xz" | cut -f1)"
