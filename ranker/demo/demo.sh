#!/bin/sh
# demo.sh — `make demo`: index the demo catalog (2,075 Debian packages) and rank
# it for each user in ranker/demo/users/.  Uses GPT-2's real weights when
# `make weights` has fetched them, else a small generated random model.
set -eu
BIN=${BIN:-./gpt2rank}
DIR=ranker/demo
OUT=${DEMO_OUT:-build/demo}
mkdir -p "$OUT"

MODEL=
for m in models/gpt2.safetensors models/gpt2/model.safetensors; do
    if [ -f "$m" ]; then MODEL=$m; break; fi
done
if [ -n "$MODEL" ]; then
    echo "=== demo on REAL GPT-2 weights: $MODEL ==="
    INDEX=$OUT/items-gpt2.g2ri
else
    MODEL=$OUT/random-small.safetensors
    echo "################################################################################"
    echo "###  NO GPT-2 WEIGHTS (run 'make weights'): this demo uses a RANDOM model,   ###"
    echo "###  so the rankings below are MEANINGLESS — they only show the pipeline.    ###"
    echo "################################################################################"
    [ -f "$MODEL" ] || "$BIN" mkmodel -o "$MODEL" --layers 2 --embd 128 --heads 4 --ctx 128 --seed 7
    INDEX=$OUT/items-random.g2ri
fi

# Rebuild the index only when the catalog or the model changed.
if [ ! -f "$INDEX" ] || [ "$DIR/items.jsonl" -nt "$INDEX" ] || [ "$MODEL" -nt "$INDEX" ]; then
    echo "--- gpt2rank index -m $MODEL -i $DIR/items.jsonl -o $INDEX --center --drop-pc 2"
    "$BIN" index -m "$MODEL" -i "$DIR/items.jsonl" -o "$INDEX" --center --drop-pc 2
fi

for user in "$DIR"/users/*.jsonl; do
    name=$(basename "$user" .jsonl)
    echo
    echo "--- $name: $(wc -l < "$user") events; gpt2rank rank -k 5 --exclude-seen --mmr 0.7 --explain"
    "$BIN" rank -m "$MODEL" --index "$INDEX" --history "$user" -k 5 --exclude-seen --mmr 0.7 --explain
done

echo
echo "--- leave-one-out over the demo users: gpt2rank eval -k 10"
"$BIN" eval -m "$MODEL" --index "$INDEX" --histories "$DIR/users" -k 10
