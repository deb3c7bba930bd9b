#!/usr/bin/python3
"""gen_goldens.py - writes tests/data/golden/: small random GPT-2 models and what
the PyTorch reference (gpt2_ref.py, float64) computes for fixed token ids.

Run by hand from the repository root (make test never needs Python):
    /usr/bin/python3 tests/ref/gen_goldens.py

For each model NAME: NAME.safetensors, NAME.logits.f32 and NAME.hidden.f32
(raw little-endian float32, the rows of every case's sequences one after the
other), described in manifest.json.  The F16/BF16 copies hold the same weights
rounded; their expected outputs come from the rounded weights.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_ref import forward, load_gpt2, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "golden")


def random_gpt2(L, H, C, V, N, seed, prefix="", mask_buffers=False):
    """Weights larger than GPT-2's N(0, 0.02) so attention and GELU are far from
    linear and a wrong sum shows in the logits."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, std=1.0: torch.randn(*shape, generator=g, dtype=torch.float64) * std
    W = {"wte.weight": r(V, C, std=0.5), "wpe.weight": r(N, C, std=0.3)}
    for i in range(L):
        p = f"h.{i}."
        W[p + "ln_1.weight"], W[p + "ln_1.bias"] = 1 + r(C, std=0.1), r(C, std=0.1)
        if mask_buffers:  # as in Hugging Face files: causal-mask buffers to be ignored
            W[p + "attn.bias"] = torch.tril(torch.ones(N, N, dtype=torch.float64)).reshape(1, 1, N, N)
        W[p + "attn.c_attn.weight"], W[p + "attn.c_attn.bias"] = r(C, 3 * C, std=0.2), r(3 * C, std=0.1)
        W[p + "attn.c_proj.weight"], W[p + "attn.c_proj.bias"] = r(C, C, std=0.1), r(C, std=0.1)
        W[p + "ln_2.weight"], W[p + "ln_2.bias"] = 1 + r(C, std=0.1), r(C, std=0.1)
        W[p + "mlp.c_fc.weight"], W[p + "mlp.c_fc.bias"] = r(C, 4 * C, std=0.15), r(4 * C, std=0.1)
        W[p + "mlp.c_proj.weight"], W[p + "mlp.c_proj.bias"] = r(4 * C, C, std=0.1), r(C, std=0.1)
    W["ln_f.weight"], W["ln_f.bias"] = 1 + r(C, std=0.1), r(C, std=0.1)
    return {prefix + k: v for k, v in W.items()}


def write_case(name, W, dtype, n_head, seqs, meta):
    path = os.path.join(OUT, name + ".safetensors")
    write_safetensors(path, {k: v.to(dtype) for k, v in W.items()}, meta)
    Wd, heads = load_gpt2(path)  # read back: the reference sees exactly the file's values
    assert heads == n_head
    logits, hidden = [], []
    for ids in seqs:
        lo, hi = forward(Wd, heads, ids)
        logits.append(lo)
        hidden.append(hi)
    for kind, rows in (("logits", logits), ("hidden", hidden)):
        with open(os.path.join(OUT, f"{name}.{kind}.f32"), "wb") as f:
            f.write(torch.cat(rows).to(torch.float32).numpy().astype("<f4").tobytes())
    return {"name": name, "model": name + ".safetensors", "dtype": {torch.float32: "F32", torch.float16: "F16",
            torch.bfloat16: "BF16"}[dtype], "n_vocab": logits[0].shape[1], "n_embd": hidden[0].shape[1],
            "ids": seqs, "logits": f"{name}.logits.f32", "hidden": f"{name}.hidden.f32"}


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    ids = lambda n, V: torch.randint(0, V, (n,), generator=g).tolist()
    cases = []
    # tiny: 2 layers, 4 heads, C 64, vocab 515 (not a multiple of 64), ctx 64; F32, F16 and BF16
    W = random_gpt2(2, 4, 64, 515, 64, seed=1)
    seqs = [ids(17, 515), ids(5, 515), ids(1, 515), ids(64, 515)]
    for dtype, suffix in ((torch.float32, ""), (torch.float16, "_f16"), (torch.bfloat16, "_bf16")):
        cases.append(write_case("tiny" + suffix, W, dtype, 4, seqs, {"format": "pt", "n_head": 4}))
    # small: 'transformer.' names, attn.bias buffers, 3 layers, 2 heads of 24, vocab 300, ctx 40
    W = random_gpt2(3, 2, 48, 300, 40, seed=2, prefix="transformer.", mask_buffers=True)
    cases.append(write_case("small", W, torch.float32, 2, [ids(9, 300), ids(40, 300), ids(3, 300)],
                            {"format": "pt", "n_head": 2}))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        f.write('{"generator": "tests/ref/gen_goldens.py", "cases": [\n ')
        f.write(",\n ".join(json.dumps(c) for c in cases) + "\n]}\n")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
