#!/usr/bin/env bash
# gpu_check.sh — the one prepared run for a GPU machine (an H200 here): build
# with CUDA, run the GPU tests, time gpt2rank beside PyTorch on the same GPU and
# weights, and print a short table last.  A few minutes in all.
#
#   bash bench/gpu_check.sh            full sizes (256x64 embedding, 1M x 768 top-10)
#   QUICK=1 bash bench/gpu_check.sh    smaller sizes, for a first smoke run
#   DRY_RUN=1 bash bench/gpu_check.sh  no GPU: the same steps on the CPU emulation
#                                      (tests/cuda_emu), a tiny model and the peer on
#                                      the CPU (PYTHON=/usr/bin/python3 with torch)
#
# Logs and raw RESULT lines go to $OUT (the device tool's folder), else bench/out.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="/usr/local/cuda/bin:$PATH"
OUT="${OUT:-bench/out}"
mkdir -p "$OUT" models
RES="$OUT/results.txt"
: >"$RES"
J=$(nproc 2>/dev/null || echo 4)
PYTHON="${PYTHON:-python3}"
step() { printf '\n== %s  (%s)\n' "$*" "$(date +%T)"; }

if [ "${DRY_RUN:-0}" = 1 ]; then
    B=build-emu MAKE_BUILD=(EMU=1 BUILD=build-emu BIN=build-emu/gpt2rank) PEER_DEVICE=cpu
    MODEL=tests/data/golden/tiny.safetensors IDS=1,2,3
    EMBED=(4 8) DECODE=8 TOPK=(2000 64 10) REPS=2
else
    B=build-cuda MAKE_BUILD=(CUDA=1 BUILD=build-cuda BIN=build-cuda/gpt2rank) PEER_DEVICE=cuda
    MODEL=models/gpt2-124m-f32.safetensors IDS=464,2068,7586,21831,18045
    if [ "${QUICK:-0}" = 1 ]; then
        EMBED=(64 64) DECODE=32 TOPK=(100000 768 10) REPS=5
    else
        EMBED=(256 64) DECODE=128 TOPK=(1000000 768 10) REPS=10
    fi
fi

step "device"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || true
nvcc --version | tail -1

step "build: ${MAKE_BUILD[*]} (sm_90 + PTX)"
if ! make -j"$J" "${MAKE_BUILD[@]}" "$B/gpt2rank" "$B/gpu_bench" "$B/g2r_tests" >"$OUT/build.log" 2>&1; then
    tail -30 "$OUT/build.log"
    echo "gpu_check: the build failed"
    exit 1
fi
tail -1 "$OUT/build.log"
# tensor-core instructions in the matmul kernels (HMMA: mma.sync; HGMMA would be wgmma)
if [ "$B" = build-cuda ] && command -v cuobjdump >/dev/null; then
    echo "HMMA instructions in cuda_matmul.o: $(cuobjdump --dump-sass $B/kernels/cuda/cuda_matmul.o | grep -c HMMA)"
fi

step "GPU tests: tests/test_cuda.c"
timeout 300 "$B/g2r_tests" cuda >"$OUT/tests.log" 2>&1
echo "tests exit status: $?"
grep -E '^(FAIL|skip|ok) |passed|^  ' "$OUT/tests.log" | tail -30

step "compute-sanitizer on the small whole-forward tests (memcheck, racecheck)"
if [ "$B" = build-cuda ] && command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        timeout 60 compute-sanitizer --tool "$tool" --error-exitcode 9 "$B/g2r_tests" cuda_forward \
            >"$OUT/sanitizer_$tool.log" 2>&1
        echo "$tool: exit status $? (9: errors found)"
        grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|passed' "$OUT/sanitizer_$tool.log" | tail -2
    done
else
    echo "skipped (no compute-sanitizer, or a dry run)"
fi

step "model: $MODEL"
[ -f "$MODEL" ] || "$B/gpt2rank" mkmodel -o "$MODEL" --dtype F32 || { echo "gpu_check: mkmodel failed"; exit 1; }
ls -l "$MODEL"

step "CLI: greedy generation on the CPU and with --device cuda"
cpu_ids=$(timeout 120 "$B/gpt2rank" generate -m "$MODEL" --ids "$IDS" -n 16 2>&1)
gpu_ids=$(timeout 120 "$B/gpt2rank" generate -m "$MODEL" --ids "$IDS" -n 16 --device cuda --timing 2>"$OUT/generate_timing.txt")
echo "cpu:  $cpu_ids"
echo "cuda: $gpu_ids"
tail -2 "$OUT/generate_timing.txt"
if [ "$cpu_ids" = "$gpu_ids" ]; then echo "greedy ids: same"; else echo "greedy ids: DIFFER (near-tied logits, or a bug)"; fi

# One gpu_bench process per measurement: a failure (a sticky CUDA error, say)
# costs that row of the table, not the rest of the run.
bench() { # LOG-TAG TIMEOUT ARGS...
    local tag=$1 secs=$2
    shift 2
    timeout "$secs" "$B/gpu_bench" --model "$MODEL" --reps "$REPS" "$@" >"$OUT/bench_$tag.log" 2>&1
    local rc=$?
    cat "$OUT/bench_$tag.log" | tee -a "$RES" | grep -v '^RESULT\|^GREEDY'
    [ $rc = 0 ] || echo "gpu_bench $tag: exit status $rc"
}
step "gpt2rank BF16"
bench embed_bf16 90 --dtype BF16 --embed "${EMBED[@]}"
bench decode_bf16 60 --dtype BF16 --decode "$DECODE"
bench matmul_bf16 60 --dtype BF16 --matmul "${EMBED[@]}"
bench matmul_f16 60 --dtype F16 --matmul "${EMBED[@]}"
step "gpt2rank F32"
bench embed_f32 90 --dtype F32 --embed "${EMBED[@]}" --dump "$OUT/ours_f32.bin"
bench decode_f32 60 --dtype F32 --decode "$DECODE"
bench matmul_f32 60 --dtype F32 --matmul "${EMBED[@]}"
step "gpt2rank top-k"
bench topk 60 --topk "${TOPK[@]}"

if [ "$B" = build-cuda ] && [ "${PROFILE:-1}" = 1 ] && command -v ncu >/dev/null; then
    step "where the BF16 embedding's time goes: ncu, one batch (gpu__time_duration per kernel)"
    timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
        "$B/gpu_bench" --model "$MODEL" --reps 1 --dtype BF16 --embed "${EMBED[@]}" >"$OUT/ncu_embed.txt" 2>&1
    echo "ncu exit status $?"
    grep -E '\)x\(|gpu__time_duration' "$OUT/ncu_embed.txt" | cut -c1-110 | head -60
fi

# Build variants (NVCC_EXTRA; commas join flags within one variant) and time
# their BF16 matmuls and batch embedding.  Measured so far: MM_STAGES 2/3/4 equal.
VARIANTS=${VARIANTS-"-DMM_BN=256 -DG2R_ATTN_TC -DMM_BN=256,-DG2R_ATTN_TC"}
if [ "$B" = build-cuda ] && [ -n "$VARIANTS" ]; then
    v=0
    for flags in $VARIANTS; do
        v=$((v + 1))
        step "variant $v: ${flags//,/ }"
        if make -j"$J" CUDA=1 BUILD=build-cuda-v$v BIN=build-cuda-v$v/gpt2rank NVCC_EXTRA="${flags//,/ }" \
            build-cuda-v$v/gpu_bench build-cuda-v$v/g2r_tests >"$OUT/build_v$v.log" 2>&1; then
            timeout 120 build-cuda-v$v/g2r_tests cuda 2>&1 | tail -1
            timeout 60 build-cuda-v$v/gpu_bench --model "$MODEL" --reps "$REPS" --dtype BF16 --matmul "${EMBED[@]}" 2>&1 |
                grep -v '^RESULT\|^device\|^upload'
            timeout 60 build-cuda-v$v/gpu_bench --model "$MODEL" --reps "$REPS" --dtype BF16 --embed "${EMBED[@]}" 2>&1 |
                grep -v '^RESULT\|^device\|^upload'
        else
            tail -5 "$OUT/build_v$v.log"
        fi
    done
fi

step "PyTorch peer (cuBLAS for the matmuls)"
PYTHONUNBUFFERED=1 timeout 180 "$PYTHON" bench/gpu_peer.py bench --device "$PEER_DEVICE" --model "$MODEL" \
    --reps "$REPS" --embed "${EMBED[@]}" --decode "$DECODE" --matmul "${EMBED[@]}" --topk "${TOPK[@]}" \
    --check "$OUT/ours_f32.bin" 2>&1 | tee -a "$RES"

step "summary (ours/peer > 1: gpt2rank faster; sizes: embed ${EMBED[*]}, decode $DECODE, top-k ${TOPK[*]})"
"$PYTHON" bench/gpu_peer.py table "$RES"


if [ "${PACK_LOGS:-0}" = 1 ]; then # the device tool brings back at most 8 files
    tar czf /tmp/gpu_logs.tgz -C "$OUT" . && rm -f "$OUT"/* && mv /tmp/gpu_logs.tgz "$OUT"/
fi
