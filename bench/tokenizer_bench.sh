#!/bin/sh
# tokenizer_bench.sh — gpt2rank's tokenizer beside tiktoken (npm, WASM), same
# corpus, same run, single-threaded.  Run from the repository root:
#   make tokenizer-bench                       (short: 2 s each)
#   SECONDS_EACH=10 MAX_WORD_MB=16 make tokenizer-bench   (the full figures)
# tiktoken is looked for in NODE_PATH (default /tmp/npm-tok/node_modules, see
# tests/gen/gen_tokenizer_ids.mjs); without node it runs gpt2rank alone.
set -e
BENCH=${BENCH:-build/bench/tokenizer_bench}
S=${SECONDS_EACH:-2}
W=${MAX_WORD_MB:-4}
export NODE_PATH=${NODE_PATH:-/tmp/npm-tok/node_modules}
out=$("$BENCH" -s "$S" -w "$W")
echo "$out"
if command -v node >/dev/null 2>&1 && [ -d "$NODE_PATH/tiktoken" ]; then
    tk=$(node bench/tokenizer_bench_tiktoken.mjs "$S")
    echo "$tk"
    ours=$(echo "$out" | awk '/^gpt2rank/ {print $2}')
    theirs=$(echo "$tk" | awk '/^tiktoken/ {print $2}')
    awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "gpt2rank / tiktoken: %.2fx\n", a / b }'
else
    echo "tiktoken: not found (node and npm tiktoken in NODE_PATH), skipped"
fi
