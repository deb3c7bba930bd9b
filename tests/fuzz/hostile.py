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
