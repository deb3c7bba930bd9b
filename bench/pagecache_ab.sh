#!/bin/sh
# pagecache_ab.sh — batch-1 decode from 2 MB page-cache pages beside 4 KB ones:
# the same weights, the same binary, runs alternated so both see the same
# memory state (this VM's bandwidth moves with its neighbours).  Run from the
# repository root after make bench has written the models:
#   sh bench/pagecache_ab.sh [ROUNDS] [MODEL...]     (default 8 rounds, F32 and Q8)
# Each MODEL is copied to /tmp: `cp` leaves the copy cached in small pages
# (written pages stay as written), `gpt2rank cache` puts the original in 2 MB
# pages.  Each round decodes 128 tokens after a 32-token prompt from each, in
# turn, and prints tokens/s; the last line per model is the median of the
# per-round ratios 2 MB / 4 KB.
set -e
BIN=${BIN:-./gpt2rank}
ROUNDS=${1:-8}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- models/gpt2-124M-random.safetensors models/gpt2-124M-random-q8.safetensors
IDS=$(seq -s, 1000 1031)
rate() { "$BIN" generate -m "$1" --ids "$IDS" -n 128 --prefault --timing 2>&1 >/dev/null | sed -n 's/.*ms\/token, \([0-9.]*\) tokens\/s.*/\1/p'; }
for m in "$@"; do
    small=/tmp/pagecache_ab.$$.$(basename "$m")
    rm -f "$small"
    cp "$m" "$small"
    "$BIN" cache "$m" >/dev/null
    echo "$m"
    "$BIN" cache --check "$m" "$small" | sed 's/^/  /'
    r=0
    ratios=""
    while [ $r -lt "$ROUNDS" ]; do
        if [ $((r % 2)) -eq 0 ]; then a=$(rate "$m"); b=$(rate "$small"); else b=$(rate "$small"); a=$(rate "$m"); fi
        echo "  round $r: 2 MB pages $a tok/s, 4 KB pages $b tok/s"
        ratios="$ratios $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", a / b }')"
        r=$((r + 1))
    done
    "$BIN" cache --check "$m" "$small" | sed 's/^/  /'
    echo "$ratios" | tr ' ' '\n' | sed '/^$/d' | sort -n |
        awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                  printf "  2 MB / 4 KB decode: median %.3fx over %d rounds (min %.3f, max %.3f)\n", m, NR, v[1], v[NR] }'
    rm -f "$small"
done
