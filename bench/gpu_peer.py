#!/usr/bin/env python3
"""gpu_peer.py — the PyTorch peer for bench/gpu_bench.c, on the same GPU and weights.

    gpu_peer.py bench --model FILE [--embed B T] [--decode N] [--matmul B T]
                      [--topk N DIM K] [--reps R] [--check OURS.f32]
    gpu_peer.py table RESULTS.txt

bench: GPT-2 written directly in torch ops (cuBLAS matmuls, SDPA attention),
in BF16 and F32, timed like gpu_bench (median of R runs after a warm-up,
synchronised wall clock).  --check compares gpu_bench's dumped embeddings
(F32 run, first 8 sequences) with torch's in F32.  Prints RESULT lines.
table: the short summary table of every RESULT line in a file (ours and peer).
Token ids are (i*131 + t*7919 + 17) mod vocab, as in gpu_bench.c.
Not part of `make test`: only bench/gpu_check.sh runs it, on the GPU machine.
"""
import argparse
import statistics
import sys
import time


def token_ids(b, t, vocab, torch, device):
    i = torch.arange(b, device=device).view(b, 1)
    j = torch.arange(t, device=device).view(1, t)
    return (i * 131 + j * 7919 + 17) % vocab


def read_safetensors(path, torch):
    """{name: tensor}, metadata: through the safetensors package, else by hand."""
    try:
        from safetensors import safe_open
    except ImportError:
        safe_open = None
    if safe_open:
        with safe_open(path, framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, (f.metadata() or {})
    import json
    import struct
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        raw = body[a:b]
        if v["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif v["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif v["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit("gpu_peer: %s: dtype %s not supported" % (k, v["dtype"]))
        out[k] = torch.from_numpy(arr.copy()).view(*v["shape"])
    return out, meta


def load_model(path, dtype, torch, device):
    raw, meta = read_safetensors(path, torch)
    tensors = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in raw.items()}
    n_layer = sum(1 for k in tensors if k.endswith(".ln_1.weight"))
    wte = tensors["wte.weight"]
    n_embd = wte.shape[1]
    n_head = int(meta.get("n_head", 0)) or {768: 12, 1024: 16, 1280: 20, 1600: 25}[n_embd]

    def t(name):
        return tensors[name].to(device=device, dtype=dtype)

    m = {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "n_vocab": wte.shape[0],
         "n_ctx": tensors["wpe.weight"].shape[0],
         "wte": t("wte.weight"), "wpe": t("wpe.weight"), "ln_f_w": t("ln_f.weight"), "ln_f_b": t("ln_f.bias"),
         "layers": []}
    for i in range(n_layer):
        p = "h.%d." % i
        m["layers"].append({k: t(p + v) for k, v in {
            "ln1w": "ln_1.weight", "ln1b": "ln_1.bias", "attn_w": "attn.c_attn.weight", "attn_b": "attn.c_attn.bias",
            "proj_w": "attn.c_proj.weight", "proj_b": "attn.c_proj.bias", "ln2w": "ln_2.weight", "ln2b": "ln_2.bias",
            "fc_w": "mlp.c_fc.weight", "fc_b": "mlp.c_fc.bias", "mlp_w": "mlp.c_proj.weight",
            "mlp_b": "mlp.c_proj.bias"}.items()})
    return m


def sdpa(q, k, v, causal, torch, F):
    """F.scaled_dot_product_attention where torch has it (2.0+), else the same by hand."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    s = (q @ k.transpose(-1, -2)) / (q.shape[-1] ** 0.5)
    if causal:
        T = q.shape[-2]
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.softmax(s.float(), dim=-1).to(q.dtype) @ v


def sync(torch):
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def block(m, L, x, attend, torch, F):
    """One transformer block on x [B, T, C]; attend(q, k, v) with [B, H, T, hd] tensors."""
    B, T, C = x.shape
    H = m["n_head"]
    h = F.layer_norm(x, (C,), L["ln1w"], L["ln1b"], 1e-5)
    qkv = torch.addmm(L["attn_b"], h.view(-1, C), L["attn_w"]).view(B, T, 3, H, C // H)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    a = attend(q, k, v).transpose(1, 2).reshape(B * T, C)
    x = x + torch.addmm(L["proj_b"], a, L["proj_w"]).view(B, T, C)
    h = F.layer_norm(x, (C,), L["ln2w"], L["ln2b"], 1e-5)
    f = F.gelu(torch.addmm(L["fc_b"], h.view(-1, C), L["fc_w"]), approximate="tanh")
    return x + torch.addmm(L["mlp_b"], f, L["mlp_w"]).view(B, T, C)


def embed(m, ids, torch, F):
    """Mean of the ln_f outputs, L2-normalised: [B, C] float32."""
    B, T = ids.shape
    C = m["n_embd"]
    x = m["wte"][ids] + m["wpe"][:T]
    causal = lambda q, k, v: sdpa(q, k, v, True, torch, F)
    for L in m["layers"]:
        x = block(m, L, x, causal, torch, F)
    h = F.layer_norm(x, (C,), m["ln_f_w"], m["ln_f_b"], 1e-5)
    return F.normalize(h.float().mean(dim=1), dim=1)


def timed(fn, reps, torch):
    fn()  # warm-up
    sync(torch)
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(torch)
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def decode(m, n, torch, F):
    """Greedy batch-1 generation with a preallocated KV cache; returns ms for n tokens."""
    C, H, Lc = m["n_embd"], m["n_head"], m["n_layer"]
    hd = C // H
    n = min(n, m["n_ctx"] - 1)
    dev, dt = m["wte"].device, m["wte"].dtype
    kc = torch.zeros(Lc, 1, H, n + 1, hd, device=dev, dtype=dt)
    vc = torch.zeros_like(kc)

    def step(tok, pos):
        x = (m["wte"][tok] + m["wpe"][pos]).view(1, 1, C)
        for li, L in enumerate(m["layers"]):
            def attend(q, k, v, li=li):
                kc[li, :, :, pos] = k[:, :, 0]
                vc[li, :, :, pos] = v[:, :, 0]
                return sdpa(q, kc[li, :, :, :pos + 1], vc[li, :, :, :pos + 1], False, torch, F)
            x = block(m, L, x, attend, torch, F)
        h = F.layer_norm(x.view(1, C), (C,), m["ln_f_w"], m["ln_f_b"], 1e-5)
        return int(torch.argmax(h @ m["wte"].t()).item())  # the sync a sampler needs

    total, ids = 0.0, []
    with torch.no_grad():
        for _ in range(2):  # the first pass warms up
            tok = 17
            tok = step(tok, 0)
            ids = [tok]
            sync(torch)
            t0 = time.perf_counter()
            for pos in range(1, n + 1):
                tok = step(tok, pos)
                ids.append(tok)
            total = (time.perf_counter() - t0) * 1e3
    return n, total, ids


def bench(args):
    import torch
    import torch.nn.functional as F

    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # F32 means F32, as in gpu_bench
    torch.backends.cudnn.allow_tf32 = False
    print("peer: torch %s on %s" % (torch.__version__,
                                    torch.cuda.get_device_name(0) if dev.type == "cuda" else "the CPU"))
    results = []

    def result(name, value, unit):
        results.append(name)
        print("RESULT %s %.7g %s" % (name, value, unit))

    with torch.no_grad():
        # device-to-device copy: the memory ceiling (bytes read + written)
        a = torch.empty(1 << (30 if dev.type == "cuda" else 22), dtype=torch.float32, device=dev)
        b = torch.empty_like(a)
        ms = timed(lambda: b.copy_(a), 10, torch)
        result("peer_copy_gbs", 2 * a.numel() * 4 / 1e9 / (ms / 1e3), "GB/s")
        del a, b

        for tag, dt in (("bf16", torch.bfloat16), ("f32", torch.float32)):
            if not args.model:
                break
            m = load_model(args.model, dt, torch, dev)
            if args.embed:
                B, T = args.embed
                ids = token_ids(B, T, m["n_vocab"], torch, dev)
                ms = timed(lambda: embed(m, ids, torch, F), args.reps, torch)
                print("peer embed %s %dx%d: %.3f ms, %.0f seq/s" % (tag, B, T, ms, B / (ms / 1e3)))
                result("peer_embed_%s_ms" % tag, ms, "ms")
                result("peer_embed_%s_seqs" % tag, B / (ms / 1e3), "seq/s")
                if args.check and tag == "f32":
                    ours = torch.from_numpy(__import__("numpy").fromfile(args.check, dtype="float32")).to(dev)
                    ours = ours.view(-1, m["n_embd"])
                    ref = embed(m, ids[:ours.shape[0]], torch, F)
                    cos = (ours * ref).sum(dim=1).min().item()
                    diff = (ours - ref).abs().max().item()
                    print("check: ours vs torch F32 embeddings of %d sequences: min cosine %.7f, max |diff| %.2e"
                          % (ours.shape[0], cos, diff))
                    result("check_min_cosine", cos, "cos")
            if args.decode:
                n, ms, ids = decode(m, args.decode, torch, F)
                print("GREEDY peer_%s %s" % (tag, ",".join(str(i) for i in ids[:16])))
                print("peer decode %s batch 1: %d tokens in %.1f ms, %.1f tokens/s" % (tag, n, ms, n / (ms / 1e3)))
                result("peer_decode_%s_tps" % tag, n / (ms / 1e3), "tok/s")
            if args.matmul:
                M = args.matmul[0] * args.matmul[1]
                C = m["n_embd"]
                for name, K, N in (("c_attn", C, 3 * C), ("attn_proj", C, C), ("fc", C, 4 * C),
                                   ("mlp_proj", 4 * C, C)):
                    x = torch.rand(M, K, device=dev, dtype=dt) - 0.5
                    w = (torch.rand(K, N, device=dev, dtype=dt) - 0.5) * 0.04
                    ms = timed(lambda: x @ w, args.reps, torch)
                    tf = 2.0 * M * K * N / (ms / 1e3) / 1e12
                    print("cuBLAS %s %s %dx%dx%d: %.3f ms, %.1f TFLOP/s" % (tag, name, M, K, N, ms, tf))
                    result("peer_matmul_%s_%s_tflops" % (tag, name), tf, "TFLOP/s")
            del m
            torch.cuda.empty_cache()

        if args.topk:
            n, dim, k = args.topk
            x = torch.rand(n, dim, device=dev) * 2 - 1
            q = torch.rand(dim, device=dev) * 2 - 1
            inv = 1.0 / x.norm(dim=1).clamp_min(1e-30)  # index-time norms: the query reads x once

            def query():
                return torch.topk((x @ q) * inv / q.norm(), k)

            ms = timed(query, args.reps, torch)
            print("peer topk %d of %d x %d: %.3f ms" % (k, n, dim, ms))
            result("peer_topk_ms", ms, "ms")
            result("topk_bytes_gb", n * dim * 4 / 1e9, "GB")


def table(path):
    r, greedy = {}, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 3 and p[0] == "GREEDY":
                greedy[p[1]] = p[2]
            if len(p) >= 3 and p[0] == "RESULT":
                try:
                    r[p[1]] = float(p[2])
                except ValueError:
                    pass

    def row(what, ours, peer, higher_better=True):
        o, p = r.get(ours), r.get(peer)
        fo = "%.1f" % o if o is not None else "-"
        fp = "%.1f" % p if p is not None else "-"
        ratio = "-"
        if o and p:
            ratio = "%.2f" % ((o / p) if higher_better else (p / o))
        print("| %-40s | %12s | %12s | %9s |" % (what, fo, fp, ratio))

    print("| %-40s | %12s | %12s | %9s |" % ("what", "gpt2rank", "PyTorch", "ours/peer"))
    print("|%s|%s|%s|%s|" % ("-" * 42, "-" * 14, "-" * 14, "-" * 11))
    for tag in ("bf16", "f32"):
        row("embed batch %s (seq/s)" % tag, "embed_%s_seqs" % tag, "peer_embed_%s_seqs" % tag)
    for tag in ("bf16", "f32"):
        row("decode batch 1 %s (tok/s)" % tag, "decode_%s_tps" % tag, "peer_decode_%s_tps" % tag)
    for tag in ("bf16", "f32"):
        for name in ("c_attn", "attn_proj", "fc", "mlp_proj"):
            row("matmul %s %s (TFLOP/s, cuBLAS)" % (tag, name), "matmul_%s_%s_tflops" % (tag, name),
                "peer_matmul_%s_%s_tflops" % (tag, name))
    row("top-10 f32 (ms)", "topk_ms", "peer_topk_ms", higher_better=False)
    if "peer_copy_gbs" in r and "topk_bytes_gb" in r:
        floor = r["topk_bytes_gb"] / r["peer_copy_gbs"] * 1e3  # the copy's rate counts bytes read + written
        print("| %-40s | %12s | %12s | %9s |" % ("top-10 HBM floor (ms, read once)", "%.3f" % floor, "", ""))
        if "topk_ms" in r:
            print("| %-40s | %12s | %12s | %9s |" % ("top-10 ours / floor", "%.2f" % (r["topk_ms"] / floor), "", ""))
    for tag in ("bf16", "f32"):
        if tag in greedy and "peer_" + tag in greedy:
            same = greedy[tag] == greedy["peer_" + tag]
            print("| %-40s | %12s | %12s | %9s |" % ("greedy ids, first 16, %s" % tag, "same" if same else "differ", "", ""))
    if "check_min_cosine" in r:
        print("| %-40s | %12s | %12s | %9s |" % ("F32 embeddings, min cosine vs torch", "%.6f" % r["check_min_cosine"],
                                                 "", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--model")
    b.add_argument("--embed", nargs=2, type=int)
    b.add_argument("--decode", type=int)
    b.add_argument("--matmul", nargs=2, type=int)
    b.add_argument("--topk", nargs=3, type=int)
    b.add_argument("--reps", type=int, default=10)
    b.add_argument("--check")
    b.add_argument("--device", default="cuda", help="cuda (default); cpu only to try the script itself")
    t = sub.add_parser("table")
    t.add_argument("results")
    a = ap.parse_args()
    if a.cmd == "table":
        table(a.results)
    else:
        bench(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
