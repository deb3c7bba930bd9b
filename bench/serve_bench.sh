#!/bin/sh
# serve_bench.sh — `make serve-bench`: the serve latency table, loopback only.
#   short (default): a 2-layer random model, 5,000 items, ~100 requests per row
#   full: SERVE_BENCH_FULL=1, the 124M-shaped random model (F32), 100,000 items,
#         500 requests per row (the targets are stated for this one)
#   SERVE_BENCH_MODEL, SERVE_BENCH_ITEMS, SERVE_BENCH_REQ, SERVE_BENCH_RR override
#   the model file, the catalog size, requests per row and re-rank requests;
#   SERVE_BENCH_REPS the in-process reference repetitions (20)
# Latencies are measured at the client (send to answer), one request at a time
# per client; the server runs with -t 2.
set -u
BIN=${BIN:-./gpt2rank}
LOAD=${LOAD:-build/bench/serve_load}
OUT=${OUT:-bench/out/serve}
mkdir -p "$OUT" models
if [ "${SERVE_BENCH_FULL:-0}" = 1 ]; then
    MODEL=models/gpt2-124M-random.safetensors ITEMS=100000 REQ=500 RR=100 TEXTS=16
else
    MODEL=$OUT/small.safetensors ITEMS=5000 REQ=100 RR=20 TEXTS=64
    "$BIN" mkmodel -o "$MODEL" --layers 2 --heads 2 --embd 64 --vocab 50257 --ctx 128
fi
MODEL=${SERVE_BENCH_MODEL:-$MODEL} ITEMS=${SERVE_BENCH_ITEMS:-$ITEMS}
REQ=${SERVE_BENCH_REQ:-$REQ} RR=${SERVE_BENCH_RR:-$RR}
[ -f "$MODEL" ] || "$BIN" mkmodel -o "$MODEL"
"$LOAD" make-index -m "$MODEL" --items "$ITEMS" -o "$OUT" || exit 1
"$BIN" serve -m "$MODEL" --index "$OUT/items.g2ri" --items "$OUT/items.jsonl" --listen 127.0.0.1:0 -t 2 \
    2> "$OUT/serve.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
PORT=
for _ in $(seq 1 1200); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$OUT/serve.err")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$OUT/serve.err"; exit 1; }
echo "serve bench: $MODEL, $ITEMS items, port $PORT ($(nproc) cores; a shared machine is noisy)"
echo
echo "| op | requests | req/s | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
# warm-up, not timed: a profile for each of u0..u99 and the TEXTS texts cached
"$LOAD" load --port "$PORT" --op event --texts "$TEXTS" --requests 200 --users 100 --seconds 1800 > /dev/null
"$LOAD" load --port "$PORT" --op event-new --requests "$REQ" --users 100
"$LOAD" load --port "$PORT" --op event --texts "$TEXTS" --requests "$REQ" --users 100
"$LOAD" load --port "$PORT" --op rank --requests "$REQ" --users 100
"$LOAD" load --port "$PORT" --op rerank --rerank 20 --requests "$RR" --users 100
"$LOAD" load --port "$PORT" --op mix --texts "$TEXTS" --clients 8 --requests "$REQ" --users 100 --seconds 120
"$LOAD" engine -m "$MODEL" --reps "${SERVE_BENCH_REPS:-20}"
echo
"$LOAD" load --port "$PORT" --op stats --requests 1
kill -TERM $PID
wait $PID
trap - EXIT
