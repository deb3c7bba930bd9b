#!/bin/sh
# pagecache_ab.sh — batch-1 decode from the same weights cached three ways:
# in 2 MB pages (`gpt2rank cache`), in 4 KB pages lying physically contiguous
# (a `cp` copy: written in large runs), and in 4 KB pages lying scattered
# (bench/scatter_copy: written page by page in shuffled order, as a file read
# back in small pieces on a busy machine ends up).  Same binary, runs
# alternated so all three see the same memory state (this VM's bandwidth
# moves with its neighbours).  Run from the repository root after make bench
# has written the models (make bench-pagecache builds scatter_copy and runs this):
#   sh bench/pagecache_ab.sh [ROUNDS] [MODEL...]     (default 4 rounds, F32, BF16, Q8)
# Each round loads the model (prefaulting it), prefills a 32-token prompt and
# decodes 128 tokens from each copy in turn, rotating who goes first; per model
# the last lines are the medians of the per-round ratios: decode tokens/s of
# 2 MB pages over each 4 KB copy, and load + first-token time the other way up.
set -e
BIN=${BIN:-./gpt2rank}
SCATTER=${SCATTER:-build/bench/scatter_copy}
ROUNDS=${1:-4}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- models/gpt2-124M-random.safetensors models/gpt2-124M-random-bf16.safetensors \
    models/gpt2-124M-random-q8.safetensors
IDS=$(seq -s, 1000 1031)
TMP=${TMPDIR:-/tmp}/pagecache_ab.$$
trap 'rm -f "$TMP".*' EXIT
# "tok/s load+first-token-ms" of one run (load maps and prefaults the file)
rate() { "$BIN" generate -m "$1" --ids "$IDS" -n 128 --prefault --timing 2>&1 >/dev/null |
         sed -n 's/.*load \([0-9.]*\) ms; prompt [0-9]* tokens + first token \([0-9.]*\) ms.*ms\/token, \([0-9.]*\) tokens\/s.*/\3 \1 \2/p' |
         awk '{ print $1, $2 + $3 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                             printf "%.3fx (min %.3f, max %.3f, %d rounds)", m, v[1], v[NR], NR }'; }
for m in "$@"; do
    [ -f "$m" ] || { echo "pagecache_ab: $m: not found (make bench writes it)" >&2; exit 1; }
    cp "$m" "$TMP.contig"
    "$SCATTER" "$m" "$TMP.scatter"
    "$BIN" cache "$m" >/dev/null
    echo "$m"
    "$BIN" cache --check "$m" "$TMP.contig" "$TMP.scatter" | sed 's/^/  /'
    : > "$TMP.contig.r"
    : > "$TMP.scatter.r"
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        case $((r % 3)) in
        0) h=$(rate "$m"); c=$(rate "$TMP.contig"); s=$(rate "$TMP.scatter") ;;
        1) c=$(rate "$TMP.contig"); s=$(rate "$TMP.scatter"); h=$(rate "$m") ;;
        *) s=$(rate "$TMP.scatter"); h=$(rate "$m"); c=$(rate "$TMP.contig") ;;
        esac
        echo "  round $r: decode tok/s, load + first token ms:  2 MB $h   4 KB contiguous $c   4 KB scattered $s"
        echo "$h $c" | awk '{ print $1 / $3, $4 / $2 }' >> "$TMP.contig.r"
        echo "$h $s" | awk '{ print $1 / $3, $4 / $2 }' >> "$TMP.scatter.r"
        r=$((r + 1))
    done
    "$BIN" cache --check "$m" "$TMP.contig" "$TMP.scatter" | sed 's/^/  /'
    echo "  decode, 2 MB / 4 KB contiguous:  $(cut -d' ' -f1 "$TMP.contig.r" | median)"
    echo "  decode, 2 MB / 4 KB scattered:   $(cut -d' ' -f1 "$TMP.scatter.r" | median)"
    echo "  load + first token, 4 KB contiguous / 2 MB:  $(cut -d' ' -f2 "$TMP.contig.r" | median)"
    echo "  load + first token, 4 KB scattered / 2 MB:   $(cut -d' ' -f2 "$TMP.scatter.r" | median)"
    rm -f "$TMP".*
done
