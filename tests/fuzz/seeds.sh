#!/bin/sh
# seeds.sh — regenerates the model and index seeds of tests/fuzz/corpus/ with
# ./gpt2rank (run by hand from the repository root).  The JSON seeds are
# written by hand; tests/fuzz/hostile.py writes the other seeds and the
# hand-made inputs of tests/data/regress/ (run it after this script: the index
# ones start from corpus/index/empty).
set -eu
bin=${G2R_BIN:-./gpt2rank}
st=tests/fuzz/corpus/safetensors
g=tests/fuzz/corpus/gpt2
mkdir -p "$st" "$g"
"$bin" mkmodel -o "$g/tiny-f32" --layers 1 --embd 8 --heads 2 --vocab 16 --ctx 4
"$bin" mkmodel -o "$g/tiny-f16" --layers 2 --embd 4 --heads 1 --vocab 8 --ctx 2 --dtype f16
"$bin" mkmodel -o "$g/tiny-bf16" --layers 1 --embd 4 --heads 2 --vocab 4 --ctx 3 --dtype bf16
"$bin" convert -m "$g/tiny-f32" -o "$g/tiny-q8" --dtype q8 --group 4
cp "$g/tiny-f32" "$g/tiny-f16" "$g/tiny-q8" "$st/"
# hand-made headers: (8-byte little-endian length, JSON, data)
hdr() { printf "$(printf '\\%03o' $(( ${#1} & 255 )) $(( ${#1} >> 8 )) 0 0 0 0 0 0)%s" "$1"; }
hdr '{}' >"$st/empty"
hdr '{"__metadata__":{"a":"b"},"x":{"dtype":"I8","shape":[2,1],"data_offsets":[0,2]}}' >"$st/meta-i8"
printf 'ab' >>"$st/meta-i8"
hdr '{"b":{"dtype":"BF16","shape":[],"data_offsets":[2,4]},"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}' >"$st/two"
printf 'abcd' >>"$st/two"
# indexes of a 4-item catalog, from a tiny model with GPT-2's vocabulary size
ix=tests/fuzz/corpus/index
mkdir -p "$ix"
tmp=$(mktemp -d)
"$bin" mkmodel -o "$tmp/m" --layers 1 --embd 8 --heads 2 --vocab 50257 --ctx 32
printf '%s\n' '{"id":"shoe","text":"red running shoes","price":60}' '{"id":"pan","text":"a cast iron pan"}' \
    '{"id":"tent","text":"a two person tent","tags":["camp"]}' '{"id":"book","text":"a novel about the sea"}' >"$tmp/items"
"$bin" index -m "$tmp/m" -i "$tmp/items" -o "$ix/f32" -t 1
"$bin" index -m "$tmp/m" -i "$tmp/items" -o "$ix/f16-centered" --dtype f16 --center --drop-pc 2 -t 1
"$bin" index -m "$tmp/m" -i "$tmp/items" -o "$ix/q8-last" --dtype q8 --pool last -t 1
printf '' >"$tmp/empty"
"$bin" index -m "$tmp/m" -i "$tmp/empty" -o "$ix/empty" -t 1 || true
rm -rf "$tmp"
