// tokenizer_bench_tiktoken.mjs — tiktoken's (npm, WASM) single-threaded encode
// throughput on the same corpus as tokenizer_bench.c, printed in its format.
//   NODE_PATH=/tmp/npm-tok/node_modules node bench/tokenizer_bench_tiktoken.mjs [SECONDS] [CORPUS_DIR]
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const { get_encoding } = require('tiktoken');
const seconds = Number(process.argv[2] || 2);
const dir = process.argv[3] || 'tests/data/tokenizer/corpus';
const enc = get_encoding('gpt2');
const docs = fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
let bytes = 0, tokens = 0;
for (const d of docs) { bytes += Buffer.byteLength(d); tokens += enc.encode_ordinary(d).length; }
let passes = 0;
const t0 = process.hrtime.bigint();
let el;
do {
    for (const d of docs) enc.encode_ordinary(d);
    passes++;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
} while (el < seconds);
console.log(`${'tiktoken'.padEnd(10)} ${(bytes * passes / el / 1e6).toFixed(2).padStart(9)} MB/s ` +
    `${(tokens * passes / el).toFixed(0).padStart(12)} tokens/s  (${passes} passes, ${el.toFixed(2)} s)`);
enc.free();
