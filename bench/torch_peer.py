#!/usr/bin/python3
"""torch_peer.py - gpt2rank's benchmarks run by PyTorch on the CPU, for comparison.

The same GPT-2 file (F32 safetensors, read by tests/ref/gpt2_ref.py's reader),
the same thread count, the same workloads as `gpt2rank bench`:
  prefill 16 x 64 and 1 x 512 tokens (to ln_f's output, as for embeddings),
  decode at batch 1: a 32-token prompt, then 128 greedy tokens with a KV cache;
  time to first token = the prompt's forward + logits of its last position.
Times are the best of --reps runs.  Prints one JSON object on stdout.

Each workload runs twice, with the linear layers through oneDNN (torch's
mkldnn_linear, F32, weights reordered once at load) and through addmm (BLAS:
Debian's torch links the reference BLAS), and the faster counts: oneDNN wins
prefill by an order of magnitude, while its per-call overhead loses decode.

    /usr/bin/python3 bench/torch_peer.py MODEL [--threads N] [--reps R] [--new N] [--backend onednn|blas|best]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from gpt2_ref import HEADS, read_safetensors  # noqa: E402


class GPT2:
    """GPT-2 in float32 with a KV cache: the usual PyTorch way, nothing exotic."""

    def __init__(self, path, n_head=0, backend="best"):
        raw, meta = read_safetensors(path)
        self.W = {k[len("transformer."):] if k.startswith("transformer.") else k: v.float().contiguous()
                  for k, v in raw.items()}
        self.C = self.W["wte.weight"].shape[1]
        self.H = n_head or int(meta.get("n_head", 0)) or HEADS[self.C]
        self.L = sum(1 for k in self.W if k.endswith(".ln_1.weight"))
        self.onednn = backend != "blas"
        if backend != "blas":  # Conv1D [in, out] -> Linear [out, in], in oneDNN's layout
            self.M = {k: self.W[k].t().contiguous().to_mkldnn() for k in self.W
                      if k.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))}
            self.M.update({k: self.W[k].to_mkldnn() for k in self.W if k.endswith(("c_attn.bias", "c_proj.bias", "c_fc.bias"))})
            self.M["wte.weight"] = self.W["wte.weight"].to_mkldnn()

    def linear(self, x, p):
        """x [N, in] @ W[p.weight] + W[p.bias]"""
        if self.onednn:
            return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self.M[p + ".weight"], self.M[p + ".bias"]).to_dense()
        return torch.addmm(self.W[p + ".bias"], x, self.W[p + ".weight"])

    def ln(self, x, p):
        return F.layer_norm(x, (self.C,), self.W[p + ".weight"], self.W[p + ".bias"], 1e-5)

    def hidden(self, ids, cache=None):
        """ids [B, T] -> ln_f output [B, T, C]; cache: per layer (k, v) [B, H, past, hd], extended in place."""
        W, C, H = self.W, self.C, self.H
        B, T = ids.shape
        hd = C // H
        past = cache[0][0].shape[2] if cache and cache[0] is not None else 0
        x = W["wte.weight"][ids] + W["wpe.weight"][past:past + T]
        mask = torch.ones(T, past + T, dtype=torch.bool).tril(past) if T > 1 else None
        for i in range(self.L):
            p = f"h.{i}."
            qkv = self.linear(self.ln(x, p + "ln_1").reshape(B * T, C), p + "attn.c_attn")
            q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in qkv.split(C, dim=1))
            if cache is not None:
                if cache[i] is not None:
                    k = torch.cat([cache[i][0], k], dim=2)
                    v = torch.cat([cache[i][1], v], dim=2)
                cache[i] = (k, v)
            att = (q @ k.transpose(2, 3)) * (1.0 / math.sqrt(hd))
            if mask is not None:
                att = att.masked_fill(~mask, float("-inf"))
            y = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(B * T, C)
            x = x + self.linear(y, p + "attn.c_proj").reshape(B, T, C)
            h = F.gelu(self.linear(self.ln(x, p + "ln_2").reshape(B * T, C), p + "mlp.c_fc"), approximate="tanh")
            x = x + self.linear(h, p + "mlp.c_proj").reshape(B, T, C)
        return self.ln(x, "ln_f")

    def logits(self, h):
        if self.onednn:
            return torch._C._nn.mkldnn_linear(h.reshape(1, -1).to_mkldnn(), self.M["wte.weight"]).to_dense()[0]
        return h @ self.W["wte.weight"].T


def best_of(reps, fn):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--heads", type=int, default=0)
    ap.add_argument("--backend", choices=["onednn", "blas", "best"], default="best")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    m = GPT2(a.model, a.heads, a.backend)
    load_s = time.perf_counter() - t0
    V = m.W["wte.weight"].shape[0]
    backends = ["onednn", "blas"] if a.backend == "best" else [a.backend]
    out = {"engine": "pytorch " + torch.__version__, "threads": torch.get_num_threads(), "load_ms": 1e3 * load_s}

    def measure(name, fn, better):
        """Runs fn under each backend; keeps the better value and says which backend gave it."""
        best = None
        for b in backends:
            m.onednn = b == "onednn"
            v = fn()
            if best is None or better(v, best[0]):
                best = (v, b)
        out[name], out[name + "_backend"] = best

    with torch.inference_mode():
        for name, (B, T) in (("prefill_16x64", (16, 64)), ("prefill_1x512", (1, 512))):
            ids = torch.randint(0, V, (B, T))

            def prefill():
                m.hidden(ids)  # warm up
                return B * T / best_of(a.reps, lambda: m.hidden(ids))

            measure(name + "_tok_s", prefill, lambda x, y: x > y)

        prompt = torch.randint(0, V, (1, a.prompt))

        def first_token():
            cache = [None] * m.L
            return cache, int(m.logits(m.hidden(prompt, cache)[0, -1]).argmax())

        def ttft():
            first_token()
            return 1e3 * best_of(a.reps, first_token)

        measure("ttft_ms", ttft, lambda x, y: x < y)

        def decode_once():
            cache, tok = first_token()
            t0 = time.perf_counter()
            for _ in range(a.new):
                tok = int(m.logits(m.hidden(torch.tensor([[tok]]), cache)[0, -1]).argmax())
            return time.perf_counter() - t0

        measure("decode_tok_s", lambda: a.new / min(decode_once() for _ in range(a.reps)), lambda x, y: x > y)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
