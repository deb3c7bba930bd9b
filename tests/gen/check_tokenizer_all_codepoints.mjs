// check_tokenizer_all_codepoints.mjs — a by-hand check, too big for `make test`:
// every Unicode code point (all 1,112,064 scalar values, assigned or not), each
// next to a letter, a digit, a space, punctuation and itself, encoded by
// ./gpt2rank and by tiktoken; prints how many ids agree.
//   make && NODE_PATH=/tmp/npm-tok/node_modules node tests/gen/check_tokenizer_all_codepoints.mjs [./gpt2rank]
import fs from 'fs';
import os from 'os';
import path from 'path';
import { execFileSync } from 'child_process';
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const { get_encoding } = require('tiktoken');
const bin = process.argv[2] || './gpt2rank';
const enc = get_encoding('gpt2');

let parts = [];
let k = 0;
for (let c = 0; c < 0x110000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCodePoint(c);
    parts.push(`a${ch}1${ch} ${ch}!${ch}${ch}`);
    if (++k % 64 === 0) parts.push('\n');
}
const text = parts.join('');
const file = path.join(os.tmpdir(), `g2r-all-codepoints-${process.pid}.txt`);
fs.writeFileSync(file, text);
const ours = JSON.parse(execFileSync(bin, ['tokenize', '-f', file], { maxBuffer: 1 << 30 }).toString());
const theirs = Array.from(enc.encode_ordinary(text));
fs.unlinkSync(file);
let same = 0;
while (same < ours.length && same < theirs.length && ours[same] === theirs[same]) same++;
console.log(`${k} code points, ${Buffer.byteLength(text)} bytes: gpt2rank ${ours.length} ids, tiktoken ${theirs.length} ids, ` +
    (same === ours.length && same === theirs.length ? 'all equal' : `first difference at id ${same}`));
process.exit(same === ours.length && same === theirs.length ? 0 : 1);
