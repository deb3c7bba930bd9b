#!/usr/bin/python3
"""topk_faiss.py BASE.f32 QUERIES.f32 DIM K THREADS REPS — FAISS IndexFlatIP on the same data.

Prints the p50 and p99 latency in ms of single-query searches (nq = 1) and
queries/s at nq = 64, on one line; FAISS's version and compile options on
stderr.  Needs Debian's python3-faiss (and numpy)."""
import sys
import time

import faiss
import numpy as np

base_path, q_path, dim, k, threads, reps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
faiss.omp_set_num_threads(threads)
xb = np.fromfile(base_path, dtype="<f4").reshape(-1, dim)
xq = np.fromfile(q_path, dtype="<f4").reshape(-1, dim)
index = faiss.IndexFlatIP(dim)
index.add(xb)
index.search(xq[:1], k)  # warm up
lat = []
for i in range(reps):
    t0 = time.perf_counter()
    index.search(xq[i % len(xq):i % len(xq) + 1], k)
    lat.append((time.perf_counter() - t0) * 1e3)
lat.sort()
batches = max(2, reps // 8)
q64 = np.ascontiguousarray(np.resize(xq, (64, dim)))
t0 = time.perf_counter()
for _ in range(batches):
    index.search(q64, k)
qps = batches * 64 / (time.perf_counter() - t0)
print(f"{lat[len(lat) // 2]:.4f} {lat[int(len(lat) * 0.99)]:.4f} {qps:.1f}")
# Debian's build says "OPTIMIZE GENERIC" (no AVX2 kernels; BLAS is the system's): say so beside the figures
print(f"FAISS {faiss.__version__}, {threads} thread(s): compile options {faiss.get_compile_options().strip()}", file=sys.stderr)
