// gen_tokenizer_ids.mjs — the expected ids of every tokenizer corpus file, from
// tiktoken's "gpt2" encoding (the reference).  Run by hand:
//   npm install --prefix /tmp/npm-tok tiktoken
//   NODE_PATH=/tmp/npm-tok/node_modules node tests/gen/gen_tokenizer_ids.mjs
// For corpus/X.txt it writes corpus/X.ids: a JSON array of the ids of the whole
// file as ordinary text (tiktoken's encode_ordinary).  For special.txt it also
// writes special.allow.ids, with <|endoftext|> allowed (encode(text, "all")).
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const { get_encoding } = require('tiktoken');
const enc = get_encoding('gpt2');
const dir = 'tests/data/tokenizer/corpus';

const writeIds = (file, ids) => {
    const lines = [];
    for (let i = 0; i < ids.length; i += 24) lines.push(Array.from(ids.slice(i, i + 24)).join(','));
    fs.writeFileSync(path.join(dir, file), '[' + lines.join(',\n') + ']\n');
};

let bytes = 0, tokens = 0;
for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    const raw = fs.readFileSync(path.join(dir, name));
    const text = raw.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(raw)) throw new Error(`${name} is not valid UTF-8`);
    const ids = enc.encode_ordinary(text);
    writeIds(name.replace(/\.txt$/, '.ids'), ids);
    if (name === 'special.txt') writeIds('special.allow.ids', enc.encode(text, 'all'));
    bytes += raw.length;
    tokens += ids.length;
    console.log(`${name}: ${raw.length} bytes, ${ids.length} tokens`);
}
console.log(`total: ${bytes} bytes, ${tokens} tokens`);
enc.free();
