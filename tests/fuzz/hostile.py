#!/usr/bin/env python3
"""hostile.py — writes the hand-made hostile inputs of tests/data/regress/
(run by hand from the repository root; make test only reads the files).
Names say what must happen: ok-* must be accepted, bad-* refused with a clean
error.  Fuzzer findings are copied there as they are (crash-<hash>), and need
only not crash or break the target's checks."""
import json, os, struct

R = "tests/data/regress"

def put(target, name, data):
    os.makedirs(f"{R}/{target}", exist_ok=True)
    with open(f"{R}/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# ---- JSON: the parser's limits and its strictness
put("json", "ok-depth-65", "[" * 65 + "]" * 65)
put("json", "bad-depth-66", "[" * 66 + "]" * 66)
put("json", "bad-depth-100000-unclosed", "{\"a\":" * 3000 + "[" * 3000)
put("json", "ok-number-2000-digits", "1" * 2000)
put("json", "ok-number-overflows-to-inf", "[1e999, -1e999, 1e-999]")
put("json", "ok-int64-edges", "[9223372036854775807, -9223372036854775808, 9223372036854775808]")
for i, s in enumerate([r'"\ud800"', r'"\udc00"', r'"\ud800\u0041"', r'"\ud800\udbff"', r'"\u12', r'"abc\\', '"abc\\']):
    put("json", f"bad-escape-{i}", s)
for i, b in enumerate([b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"', b'"\x80"', b'"a\x00b"']):
    put("json", f"bad-utf8-{i}", b)
put("json", "bad-empty", b"")
put("json", "bad-nul-after-value", b"{}\x00")
put("json", "ok-keys-with-nul", '{"a\\u0000b": 1, "a": 2}')

# ---- safetensors: lengths, offsets and shapes at their limits
def st(header, data=b"", length=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data

def t(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}

put("safetensors", "bad-header-length-max", st(b"{}", length=2**64 - 1))
put("safetensors", "bad-header-length-past-end", st(b"{}", length=3))
put("safetensors", "bad-header-length-zero", st(b"", length=0))
put("safetensors", "bad-short-file", b"\x02\x00\x00")
put("safetensors", "bad-offsets-near-int64-max", st({"a": t("F32", [1], 2**63 - 5, 2**63 - 1)}))
put("safetensors", "bad-offsets-past-int64", st({"a": t("I8", [1], 2**63, 2**63 + 1)}))
put("safetensors", "bad-shape-overflows", st({"a": t("F32", [2**32, 2**32, 2**32], 0, 0)}))
put("safetensors", "bad-shape-overflow-times-zero", st({"a": t("F32", [2**62, 2**62, 0], 0, 0)}))
put("safetensors", "bad-shape-negative", st({"a": t("F32", [-1], 0, 4)}, b"\0" * 4))
put("safetensors", "bad-shape-float", st({"a": t("F32", [1.0], 0, 4)}, b"\0" * 4))
put("safetensors", "bad-dup-name", st(b'{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"I8","shape":[1],"data_offsets":[1,2]}}', b"xy"))
put("safetensors", "bad-dup-metadata", st(b'{"__metadata__":{},"__metadata__":{}}'))
put("safetensors", "ok-name-with-nul", st(b'{"a\\u0000":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"I8","shape":[1],"data_offsets":[1,2]}}', b"xy"))
put("safetensors", "bad-gap", st({"a": t("I8", [1], 1, 2)}, b"xy"))
put("safetensors", "bad-overlap", st({"a": t("I8", [2], 0, 2), "b": t("I8", [1], 1, 2)}, b"xy"))
put("safetensors", "bad-trailing", st({"a": t("I8", [1], 0, 1)}, b"xy"))
put("safetensors", "bad-metadata-not-strings", st({"__metadata__": {"n_head": 12}}))
put("safetensors", "bad-unsupported-dtype", st({"a": t("F64", [1], 0, 8)}, b"\0" * 8))
put("safetensors", "ok-many-dims", st({"a": t("I8", [1] * 10000, 0, 1)}, b"x"))

# ---- GPT-2 binding: configurations the shapes and metadata cannot make sense of
def model(names_shapes, meta=None, dtype="F32"):
    hdr, data, off = {}, b"", 0
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, shape in names_shapes:
        n = 1
        for d in shape:
            n *= d
        size = n * (1 if dtype == "I8" else 4 if dtype == "F32" else 2)
        hdr[name] = t(dtype, shape, off, off + size)
        data += b"\0" * size
        off += size
    return st(hdr, data)

C, V, P = 4, 4, 2
base = [("wte.weight", [V, C]), ("wpe.weight", [P, C])]
put("gpt2", "bad-stray-high-block", model(base + [("h.9999999.ln_1.weight", [C])], {"n_head": "2"}))
put("gpt2", "bad-block-index-overflows-int", model(base + [("h.99999999999.ln_1.weight", [C])], {"n_head": "2"}))
put("gpt2", "bad-wte-one-dim", model([("wte.weight", [V * C]), ("wpe.weight", [P, C])], {"n_head": "2"}))
put("gpt2", "bad-wte-zero-rows", model([("wte.weight", [0, C]), ("wpe.weight", [P, C])], {"n_head": "2"}))
put("gpt2", "bad-n-head-zero", model(base + [("h.0.ln_1.weight", [C])], {"n_head": "0"}))
put("gpt2", "bad-n-head-not-dividing", model(base + [("h.0.ln_1.weight", [C])], {"n_head": "3"}))
put("gpt2", "bad-n-head-junk", model(base + [("h.0.ln_1.weight", [C])], {"n_head": "2x"}))
put("gpt2", "bad-q8-without-group", model(base + [("h.0.ln_1.weight", [C])], {"n_head": "2"}, dtype="I8"))
put("gpt2", "bad-q8-group-zero", model(base + [("h.0.ln_1.weight", [C])], {"n_head": "2", "q8_group": "0"}, dtype="I8"))
put("gpt2", "bad-wpe-wrong-width", model([("wte.weight", [V, C]), ("wpe.weight", [P, C + 1])], {"n_head": "2"}))

# ---- tokenizer seeds (tests/fuzz/corpus/vocab, tokenize) and hostile vocabularies
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))

B2U = bytes_to_unicode()
def spell(b):
    return "".join(B2U[x] for x in b)

def seed(target, name, data):
    os.makedirs(f"tests/fuzz/corpus/{target}", exist_ok=True)
    with open(f"tests/fuzz/corpus/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

merges = [(b"a", b"b"), (b"ab", b"c"), (b" ", b"a"), (b"h", b"e"), (b"he", b"l"), (b"l", b"o")]
vocab = {spell(bytes([b])): b for b in range(256)}
for l, r in merges:
    vocab[spell(l + r)] = len(vocab)
vocab_json = json.dumps(vocab, ensure_ascii=False)
merges_txt = "#version: 0.2\n" + "".join(f"{spell(l)} {spell(r)}\n" for l, r in merges)
seed("vocab", "pair", b"\0" + vocab_json.encode() + b"\0" + merges_txt.encode())
seed("vocab", "openai-pair", b"\2" + vocab_json.encode() + b"\0" + merges_txt.encode())
tj = {"version": "1.0", "added_tokens": [{"id": len(vocab), "content": "<|endoftext|>", "special": True}],
      "model": {"type": "BPE", "vocab": vocab, "merges": [f"{spell(l)} {spell(r)}" for l, r in merges]}}
seed("vocab", "tokenizer-json", b"\1" + json.dumps(tj, ensure_ascii=False).encode())
tj["model"]["merges"] = [[spell(l), spell(r)] for l, r in merges]
seed("vocab", "tokenizer-json-arrays", b"\1" + json.dumps(tj, ensure_ascii=False).encode())

seed("tokenize", "prose", "Hello, world! It's 2024 and the cat's   whiskers\n\n<|endoftext|>done")
seed("tokenize", "unicode", "caf\u00e9 \u4e2d\u6587 \U0001F600\u200d \u0645\u0631\u062d\u0628\u0627 123456 ''' 've")
seed("tokenize", "invalid-utf8", b"\xff\xfe\xc0\xaf\xed\xa0\x80 abc \xe2\x82")
seed("tokenize", "ids", struct.pack("<6i", 15496, 11, 995, 0, 50256, 50257))

bad_vocab = dict(vocab)
del bad_vocab[spell(b"z")]
put("vocab", "bad-missing-byte", b"\0" + json.dumps(bad_vocab).encode() + b"\0")
put("vocab", "bad-merge-unknown", b"\0" + vocab_json.encode() + b"\0#version: 0.2\na q\n")
put("vocab", "bad-merge-three-parts", b"\0" + vocab_json.encode() + b"\0a b c\n")
put("vocab", "bad-merge-too-long", b"\0" + vocab_json.encode() + b"\0" + b"a" * 600 + b" " + b"b" * 600 + b"\n")
put("vocab", "bad-id-huge", b"\0" + json.dumps({**vocab, "x!": 2**40}).encode() + b"\0")
put("vocab", "bad-id-negative", b"\0" + json.dumps({**vocab, "x!": -1}).encode() + b"\0")
put("vocab", "bad-id-hole", b"\0" + json.dumps({**vocab, "x!": 100000}).encode() + b"\0")
put("vocab", "bad-id-twice", b"\0" + json.dumps({**vocab, "xy": 0}).encode() + b"\0")
put("vocab", "bad-newline-in-token", b"\0" + json.dumps({**vocab, "a\nb": -1}).encode() + b"\0")
put("vocab", "bad-not-bpe", b"\1" + json.dumps({"model": {"type": "WordPiece", "vocab": vocab, "merges": []}}).encode())
put("vocab", "bad-added-token-no-content", b"\1" + json.dumps({"added_tokens": [{"id": 1}], "model": {"vocab": vocab, "merges": []}}).encode())
put("vocab", "ok-empty-merges", b"\0" + vocab_json.encode() + b"\0")
put("tokenize", "long-word", b"a" * 20000)
put("tokenize", "long-spaces", b" " * 20000 + b"x")
put("tokenize", "many-specials", b"<|endoftext|>" * 1000)
put("tokenize", "bad-ids-out-of-range", struct.pack("<3i", 1, -2147483648, 50257))

# ---- JSON Lines histories (read with a 256-byte line limit by the fuzz target)
seed("history", "events", '{"text":"running shoes","event":"search","ts":1700000000}\n'
     '{"text":"red running shoes","event":"view","ts":1700000100,"item":"shoe","weight":2}\n\n'
     '{"text":"tent","event":"purchase","ts":1.7e9,"user":"u1"}\r\n')
seed("history", "no-newline", '{"text":"x","event":"view","ts":0}')
put("history", "bad-line-too-long", '{"text":"' + "a" * 300 + '","event":"view","ts":1}\n')
put("history", "bad-weight-inf", '{"text":"x","event":"view","ts":1,"weight":1e999}\n')
put("history", "bad-weight-negative", '{"text":"x","event":"view","ts":1,"weight":-1}\n')
put("history", "bad-ts-string", '{"text":"x","event":"view","ts":"yesterday"}\n')
put("history", "bad-not-object", '[1,2]\n')
put("history", "bad-truncated", '{"text":"x","event":"vi')
put("history", "ok-blank-lines", '\n\n  \n{"text":"x","event":"view","ts":1}\n\n')

# ---- .g2ri index: the fuzz target fixes the checksum and size fields itself,
# so these start from the empty-catalog seed and change the layout fields.
if os.path.exists("tests/fuzz/corpus/index/empty"):
    base = bytearray(open("tests/fuzz/corpus/index/empty", "rb").read())

    def index_with(**fields):
        f = bytearray(base)
        at = {"dim": (16, "<I"), "count": (24, "<Q"), "n_pc": (40, "<I"), "flags": (36, "<I"), "stride": (56, "<Q"),
              "off_rec": (72, "<Q"), "rec_bytes": (80, "<Q"), "off_vec": (88, "<Q"), "dtype": (20, "<I")}
        for k, v in fields.items():
            struct.pack_into(at[k][1], f, at[k][0], v % (2 ** (8 * struct.calcsize(at[k][1]))))
        return bytes(f)

    # found by reading the reader after the fuzzer missed it: rec_bytes chosen so
    # off_rec + rec_bytes wraps to the file size, with 16 GB of "post-processing"
    off_rec = 128 + 4 * 65536 * 65535
    put("index", "bad-records-size-wraps", index_with(dim=65536, n_pc=65535, stride=65536, off_rec=off_rec,
                                                       rec_bytes=2**64 - off_rec + len(base), off_vec=len(base)))
    put("index", "bad-dim-zero", index_with(dim=0))
    put("index", "bad-count-huge", index_with(count=2**32 - 1))
    put("index", "bad-dtype", index_with(dtype=7))
    put("index", "bad-flags", index_with(flags=2))
    put("index", "bad-off-vec-past-end", index_with(off_vec=2**63))

# ---- JSON Lines catalogs (index build, 256-byte line limit in the fuzz target)
seed("items", "catalog", '{"id":"shoe","text":"red running shoes","price":60,"tags":["run","red"]}\n'
     '{"id":"pan","text":"a cast iron pan","meta":{"w":1.5}}\n\n{"id":"tent","text":"a two person tent"}\r\n')
seed("items", "one", '{"id":"x","text":"caf\\u00e9 \\ud83d\\ude00"}')
put("items", "bad-duplicate-id", '{"id":"a","text":"one"}\n{"id":"a","text":"two"}\n')
put("items", "bad-empty-text", '{"id":"a","text":""}\n')
put("items", "bad-id-number", '{"id":1,"text":"x"}\n')
put("items", "bad-line-too-long", '{"id":"a","text":"' + "x" * 300 + '"}\n')
put("items", "ok-empty-catalog", "\n\n")
put("items", "ok-long-text-in-context", '{"id":"a","text":"' + "word " * 45 + '"}\n')

# ---- serve requests (one input = up to 64 request lines to a fresh server)
seed("serve", "session", "\n".join([
    '{"op":"event","user":"u1","text":"red running shoes","event":"view","ts":1732780800,"item":"shoe","req":1}',
    '{"op":"event","user":"u1","text":"camping","event":"search","ts":1732780900,"weight":2}',
    '{"op":"rank","user":"u1","k":3,"mmr":0.5,"exclude_seen":true,"explain":true,"req":"r2"}',
    '{"op":"rank","user":"u1","k":2,"rerank":2,"alpha":0.3}',
    '{"op":"add_item","id":"sock","text":"wool socks","color":"grey"}',
    '{"op":"remove_item","id":"pan"}',
    '{"op":"save"}',
    '{"op":"stats"}']) + "\n")
seed("serve", "errors", '{"op":"nope"}\n[1,2]\n{"op":"rank","user":"nobody","k":1}\n{"op":"rank","user":"u","k":-5}\n'
     '{"op":"event","user":"u","text":"x","ts":"soon"}\nnot json\n\n')
put("serve", "long-line-handled-whole", '{"op":"event","user":"u","text":"' + "x" * 600 + '","event":"view","ts":1}\n')
put("serve", "bad-k-huge", '{"op":"event","user":"u","text":"x","event":"view","ts":1}\n{"op":"rank","user":"u","k":1e300}\n')
put("serve", "bad-weight-inf", '{"op":"event","user":"u","text":"x","event":"view","ts":1,"weight":1e999}\n')
put("serve", "ok-remove-everything-then-rank", '{"op":"remove_item","id":"shoe"}\n{"op":"remove_item","id":"pan"}\n'
    '{"op":"remove_item","id":"tent"}\n{"op":"remove_item","id":"book"}\n'
    '{"op":"event","user":"u","text":"x","event":"view","ts":1}\n{"op":"rank","user":"u","k":5,"mmr":0.5}\n')
put("serve", "bad-add-item-empty-id", '{"op":"add_item","id":"","text":"x"}\n')
put("serve", "ok-add-then-rank", '{"op":"add_item","id":"new","text":"a new thing"}\n'
    '{"op":"event","user":"u","text":"thing","event":"view","ts":1,"item":"new"}\n{"op":"rank","user":"u","k":10}\n')
put("vocab", "bad-empty-token", b"\0" + json.dumps({"": 0, **{k: v + 1 for k, v in vocab.items()}}).encode() + b"\0")
put("vocab", "bad-empty-added-token", b"\1" + json.dumps({"added_tokens": [{"id": len(vocab), "content": ""}],
    "model": {"vocab": vocab, "merges": []}}).encode())
