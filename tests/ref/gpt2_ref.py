#!/usr/bin/python3
"""gpt2_ref.py - an independent GPT-2 reference for gpt2rank's golden tests.

Plain PyTorch (Debian python3-torch): no transformers, no safetensors package.
A hand-written safetensors reader/writer and GPT-2's forward pass, computed in
float64 so that it is the truth gpt2rank's float32 is measured against.

    /usr/bin/python3 tests/ref/gpt2_ref.py MODEL --ids 464,2068,7586 \
        [--dump logits|hidden] [-o OUT.f32] [--heads H] [--compare C.f32]

--compare reads gpt2rank's raw float32 output for the same ids and prints
max|diff| / max|ref|, the tolerance the golden tests use.
"""
import argparse
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}
HEADS = {768: 12, 1024: 16, 1280: 20, 1600: 25}


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) from a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        buf = bytearray(data[8 + n + a:8 + n + b])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if buf else torch.zeros(0, dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return tensors, meta


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype("<f4").tobytes()


def write_safetensors(path, tensors, meta=None):
    """Writes {name: tensor} (F32/F16/BF16) in order, with optional string metadata."""
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_gpt2(path, n_head=0):
    """HF GPT-2 tensors (prefix 'transformer.' dropped) as float64, and n_head."""
    raw, meta = read_safetensors(path)
    W = {k[len("transformer."):] if k.startswith("transformer.") else k: v.to(torch.float64) for k, v in raw.items()}
    C = W["wte.weight"].shape[1]
    n_head = n_head or int(meta.get("n_head", 0)) or HEADS[C]
    return W, n_head


def gelu(x):  # GPT-2's tanh approximation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(W, n_head, ids):
    """Returns (logits [T, vocab], hidden = ln_f output [T, C]) for one sequence."""
    T = len(ids)
    C = W["wte.weight"].shape[1]
    hd = C // n_head
    ln = lambda x, p: F.layer_norm(x, (C,), W[p + ".weight"], W[p + ".bias"], 1e-5)
    x = W["wte.weight"][torch.tensor(ids)] + W["wpe.weight"][:T]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    i = 0
    while f"h.{i}.ln_1.weight" in W:
        p = f"h.{i}."
        q, k, v = (ln(x, p + "ln_1") @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]).split(C, dim=1)
        q, k, v = (t.reshape(T, n_head, hd).transpose(0, 1) for t in (q, k, v))  # [H, T, hd]
        att = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = gelu(ln(x, p + "ln_2") @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
        i += 1
    hidden = ln(x, "ln_f")
    return hidden @ W["wte.weight"].T, hidden


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--dump", choices=["logits", "hidden"], default="logits")
    ap.add_argument("--heads", type=int, default=0)
    ap.add_argument("-o", "--output")
    ap.add_argument("--compare")
    a = ap.parse_args()
    W, n_head = load_gpt2(a.model, a.heads)
    ids = [int(t) for t in a.ids.split(",")]
    logits, hidden = forward(W, n_head, ids)
    ref = logits if a.dump == "logits" else hidden
    if a.output:
        with open(a.output, "wb") as f:
            f.write(ref.to(torch.float32).numpy().astype("<f4").tobytes())
    if a.compare:
        with open(a.compare, "rb") as f:
            got = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).to(torch.float64)
        if got.numel() != ref.numel():
            sys.exit(f"{a.compare}: {got.numel()} floats, expected {ref.numel()}")
        diff = (got - ref.reshape(-1)).abs().max().item()
        scale = ref.abs().max().item()
        print(f"{a.dump} {list(ref.shape)}: max|diff| {diff:.3g}, max|ref| {scale:.3g}, rel {diff / scale:.3g}")


if __name__ == "__main__":
    main()
